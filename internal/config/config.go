// Package config loads dfsreg's configuration: built-in defaults, then a
// YAML file, then DFSREG_* environment variables, then flags, each overriding
// the one before. Unknown keys are errors, wherever they come from.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Config is everything dfsreg can be told. The mapstructure tags are the
// keys of the YAML file; the environment variable of a key is DFSREG_ and the
// key upper-cased with dots as underscores (storage.backend ->
// DFSREG_STORAGE_BACKEND).
type Config struct {
	// Addr is where serve listens, HOST:PORT.
	Addr string `mapstructure:"addr" desc:"listen address, HOST:PORT"`
	// Root is the store directory (metadata, and blobs for the filesystem backend).
	Root    string  `mapstructure:"root" desc:"store directory: SQLite metadata, and blobs with the filesystem backend"`
	Log     Log     `mapstructure:"log"`
	HTTP    HTTP    `mapstructure:"http"`
	Storage Storage `mapstructure:"storage"`
	Uploads Uploads `mapstructure:"uploads"`
	GC      GC      `mapstructure:"gc"`
	Auth    Auth    `mapstructure:"auth"`
	TLS     TLS     `mapstructure:"tls"`
	Metrics Metrics `mapstructure:"metrics"`
	Limits  Limits  `mapstructure:"limits"`
}

// GC configures garbage collection, by `dfsreg gc` and on a schedule in serve.
type GC struct {
	// Interval runs a collection in serve this often; 0 disables it.
	Interval time.Duration `mapstructure:"interval" desc:"run garbage collection in serve this often; 0 disables it"`
	// Grace keeps anything unreachable for less than this (fresh uploads,
	// HEADs and mounts count as reachable just now).
	Grace time.Duration `mapstructure:"grace" desc:"keep anything unreachable for less than this"`
	// Untagged also collects untagged manifests (except children of live
	// indexes and live referrers) older than Retention.
	Untagged  bool          `mapstructure:"untagged" desc:"also collect untagged manifests older than gc.retention"`
	Retention time.Duration `mapstructure:"retention" desc:"age of untagged manifests kept with gc.untagged"`
}

// Log configures the structured logs written to stderr.
type Log struct {
	Level  string `mapstructure:"level" enum:"debug,info,warn,error" desc:"log level"`
	Format string `mapstructure:"format" enum:"text,json" desc:"log format (log/slog, to stderr)"`
}

// HTTP configures the listener.
type HTTP struct {
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout" desc:"how long a client may take to send request headers"`
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout time.Duration `mapstructure:"idle_timeout" desc:"keep-alive connections idle this long are closed"`
	// ShutdownTimeout is how long in-flight requests get on SIGTERM.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout" desc:"grace for in-flight requests on SIGTERM"`
	// BodyIdleTimeout cuts a request body that sends nothing for this long
	// (a long upload that keeps sending is never cut).
	BodyIdleTimeout time.Duration `mapstructure:"body_idle_timeout" desc:"a request body that sends nothing this long is cut (408)"`
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes ByteSize `mapstructure:"max_header_bytes" desc:"request header limit (431 beyond)"`
	// WriteIdleTimeout cuts a connection whose client accepts no response
	// bytes for this long (stopped reading, or gone); Linux only.
	WriteIdleTimeout time.Duration `mapstructure:"write_idle_timeout" desc:"a client that reads nothing of a response this long is cut (Linux)"`
	// TrustedProxies are the reverse proxies (IPs or CIDRs) in front of
	// serve: behind one, X-Forwarded-For names the client.
	TrustedProxies []string `mapstructure:"trusted_proxies" desc:"reverse proxies in front of serve (IPs or CIDRs; in the environment comma-separated): for their requests the client is read from X-Forwarded-For, for rate limits, failed-login limits and the log"`
}

// Storage chooses the blob backend and configures it.
type Storage struct {
	Backend string `mapstructure:"backend" enum:"filesystem,storj,ipfs" desc:"blob backend"`
	Storj   Storj  `mapstructure:"storj"`
	IPFS    IPFS   `mapstructure:"ipfs"`
}

// Storj configures the Storj DCS backend. The access grant is a secret: it
// is never logged nor put in an error message.
type Storj struct {
	Bucket string `mapstructure:"bucket" desc:"Storj bucket (must exist); required with the storj backend"`
	// AccessGrant is the serialized access grant; AccessGrantFile a file
	// holding it (one of the two).
	AccessGrant     string `mapstructure:"access_grant" secret:"true" desc:"Storj serialized access grant (a secret); or use access_grant_file"`
	AccessGrantFile string `mapstructure:"access_grant_file" desc:"file holding the Storj access grant"`
	// PartSize is the multipart upload part size (at least 5 MiB).
	PartSize ByteSize `mapstructure:"part_size" desc:"Storj multipart upload part size (at least 5MiB)"`
}

// IPFS configures the IPFS backend (a kubo node reached over its RPC API).
type IPFS struct {
	// API is the node's RPC address: a multiaddr (/ip4/127.0.0.1/tcp/5001)
	// or a URL (http://127.0.0.1:5001).
	API string `mapstructure:"api" desc:"kubo RPC address: a multiaddr (/ip4/127.0.0.1/tcp/5001) or an http(s) URL; required with the ipfs backend"`
	// CacheDir is the local blob cache ("" = <root>/ipfs-cache).
	CacheDir string `mapstructure:"cache_dir" desc:"local blob cache directory (empty: <root>/ipfs-cache)"`
	// CacheSize bounds the cache; least recently used blobs are evicted.
	CacheSize ByteSize `mapstructure:"cache_size" desc:"local blob cache bound; least recently used blobs are evicted"`
}

// Uploads configures upload sessions.
type Uploads struct {
	// Expiry is how long an idle upload session is kept.
	Expiry time.Duration `mapstructure:"expiry" desc:"idle upload sessions are discarded after this"`
}

// TLS makes serve speak HTTPS. Certificate and key are re-read when their
// files change; with ClientCAFile every client must present a certificate
// signed by one of its CAs (mTLS).
type TLS struct {
	CertFile     string `mapstructure:"cert_file" desc:"PEM certificate: serve speaks HTTPS (re-read when the file changes)"`
	KeyFile      string `mapstructure:"key_file" desc:"PEM private key of cert_file"`
	ClientCAFile string `mapstructure:"client_ca_file" desc:"PEM CA certificates: clients must present a certificate they signed (mTLS)"`
}

// Metrics configures the Prometheus endpoint /metrics on the main listener.
type Metrics struct {
	Enabled bool `mapstructure:"enabled" desc:"serve Prometheus metrics at /metrics on the main listener"`
}

// Limits bound what clients can take from serve.
type Limits struct {
	// Rate is the sustained requests per second allowed per client IP
	// (0: no rate limit); Burst the requests allowed at once.
	Rate  float64 `mapstructure:"rate" desc:"requests per second allowed per client IP (0: no limit; beyond: 429)"`
	Burst int     `mapstructure:"burst" desc:"requests a client may make at once under limits.rate"`
	// MaxUploads bounds the upload requests carrying a body at once.
	MaxUploads int `mapstructure:"max_uploads" desc:"upload requests carrying blob bytes at once (more: 429)"`
	// MaxConnections bounds open client connections (0: unbounded).
	MaxConnections int `mapstructure:"max_connections" desc:"open client connections (0: unbounded; more wait to be accepted)"`
	// MaxManifestPuts bounds manifest PUTs read at once (each holds up to
	// 4 MiB in memory); more wait their turn.
	MaxManifestPuts int `mapstructure:"max_manifest_puts" desc:"manifest PUTs read at once (more wait, then 429)"`
}

// Defaults are the embedded defaults: serve on :5000 with the store in
// ./dfsreg-data.
func Defaults() Config {
	return Config{
		Addr:    ":5000",
		Root:    "dfsreg-data",
		Log:     Log{Level: "info", Format: "text"},
		HTTP:    HTTP{ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ShutdownTimeout: 30 * time.Second, BodyIdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10, WriteIdleTimeout: time.Minute},
		Storage: Storage{Backend: "filesystem", Storj: Storj{PartSize: 64 << 20}, IPFS: IPFS{CacheSize: 10 << 30}},
		Uploads: Uploads{Expiry: 24 * time.Hour},
		GC:      GC{Grace: time.Hour, Retention: 24 * time.Hour},
		Auth:    Auth{HTPasswd: HTPasswd{Realm: "dfsreg"}, FailedLogins: FailedLogins{Max: 20, Window: time.Minute}},
		Metrics: Metrics{Enabled: true},
		Limits:  Limits{Burst: 100, MaxUploads: 128, MaxConnections: 4096, MaxManifestPuts: 16},
	}
}

// EnvPrefix is the prefix of dfsreg's environment variables.
const EnvPrefix = "DFSREG_"

// Load reads the configuration. file may be empty; flags maps config keys to
// flags that were registered for them (only flags the user set override).
func Load(file string, flags map[string]*pflag.Flag) (*Config, error) {
	v := viper.New()
	keys := Keys()
	for k, val := range flatten(Defaults()) {
		v.SetDefault(k, val)
	}
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config file %s: %w", file, err)
		}
	}
	if err := checkEnv(keys); err != nil {
		return nil, err
	}
	v.SetEnvPrefix(strings.TrimSuffix(EnvPrefix, "_"))
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	for _, k := range keys {
		if err := v.BindEnv(k); err != nil {
			return nil, err
		}
	}
	for k, f := range flags {
		if err := v.BindPFlag(k, f); err != nil {
			return nil, err
		}
	}
	if bad := unknownKeys(v.AllKeys()); len(bad) > 0 {
		return nil, fmt.Errorf("config%s: unknown key(s) %s (known keys: %s)", where(file), strings.Join(bad, ", "), strings.Join(keys, ", "))
	}
	var c Config
	err := v.UnmarshalExact(&c, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(), mapstructure.TextUnmarshallerHookFunc(), jsonListHook, mapstructure.StringToSliceHookFunc(","))))
	if err != nil {
		return nil, fmt.Errorf("config%s: %w", where(file), err)
	}
	// An empty list is no list: a written-out configuration loads back
	// equal to the one written.
	if len(c.Auth.Access) == 0 {
		c.Auth.Access = nil
	}
	if len(c.Auth.Groups) == 0 {
		c.Auth.Groups = nil
	}
	if len(c.HTTP.TrustedProxies) == 0 {
		c.HTTP.TrustedProxies = nil
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config%s: %w", where(file), err)
	}
	return &c, nil
}

func where(file string) string {
	if file == "" {
		return ""
	}
	return " " + file
}

// unknownKeys returns the dotted keys in have that name no configuration
// key, sorted. (A map given where a value belongs is caught by decoding.)
func unknownKeys(have []string) []string {
	known := map[string]bool{}
	for _, k := range Keys() {
		known[k] = true
	}
	var bad []string
	for _, k := range have {
		if !known[k] {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return bad
}

// Validate checks values that parse but make no sense.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr is empty"))
	}
	if c.Root == "" {
		errs = append(errs, errors.New("root is empty"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: want debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: want text or json", c.Log.Format))
	}
	switch c.Storage.Backend {
	case "filesystem":
	case "storj":
		sj := c.Storage.Storj
		if sj.Bucket == "" {
			errs = append(errs, errors.New("storage.storj.bucket is required with the storj backend"))
		}
		if (sj.AccessGrant == "") == (sj.AccessGrantFile == "") {
			errs = append(errs, errors.New("give one of storage.storj.access_grant and storage.storj.access_grant_file with the storj backend"))
		}
		if sj.PartSize < 5<<20 {
			errs = append(errs, fmt.Errorf("storage.storj.part_size %s: at least 5MiB", sj.PartSize))
		}
	case "ipfs":
		if c.Storage.IPFS.API == "" {
			errs = append(errs, errors.New("storage.ipfs.api is required with the ipfs backend"))
		}
		if c.Storage.IPFS.CacheSize <= 0 {
			errs = append(errs, errors.New("storage.ipfs.cache_size must be positive"))
		}
	default:
		errs = append(errs, fmt.Errorf("storage.backend %q: want filesystem, storj or ipfs", c.Storage.Backend))
	}
	if c.GC.Interval < 0 || c.GC.Grace < 0 || c.GC.Retention < 0 {
		errs = append(errs, errors.New("gc.interval, gc.grace and gc.retention cannot be negative"))
	}
	if c.Uploads.Expiry <= 0 {
		errs = append(errs, errors.New("uploads.expiry must be positive"))
	}
	errs = append(errs, c.Auth.validate())
	errs = append(errs, c.validateOps()...)
	if c.HTTP.ReadHeaderTimeout <= 0 || c.HTTP.IdleTimeout <= 0 || c.HTTP.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("http.read_header_timeout, http.idle_timeout and http.shutdown_timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Keys lists every configuration key, dotted, sorted.
func Keys() []string {
	var keys []string
	for k := range flatten(Config{}) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// flatten maps each dotted key to its value in c.
func flatten(c Config) map[string]any {
	out := map[string]any{}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			k := prefix + f.Tag.Get("mapstructure")
			if f.Type.Kind() == reflect.Struct {
				walk(v.Field(i), k+".")
				continue
			}
			out[k] = v.Field(i).Interface()
		}
	}
	walk(reflect.ValueOf(c), "")
	return out
}

// EnvName is the environment variable for key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// checkEnv rejects DFSREG_* variables that name no key: a typo in an
// environment variable should fail loudly, not be ignored.
func checkEnv(keys []string) error {
	known := map[string]bool{}
	for _, k := range keys {
		known[EnvName(k)] = true
	}
	var bad []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && !known[name] {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("unknown environment variable(s) %s", strings.Join(bad, ", "))
	}
	return nil
}
