package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"time"
)

// Auth configures authentication and authorization in serve: HTTP Basic
// against an htpasswd file, or bearer tokens (JWTs) from an external token
// server per the distribution token spec. Neither: no authentication.
type Auth struct {
	HTPasswd HTPasswd `mapstructure:"htpasswd"`
	Token    Token    `mapstructure:"token"`
	// AnonymousPull lets clients without credentials pull every repository.
	AnonymousPull bool `mapstructure:"anonymous_pull" desc:"clients without credentials may pull every repository"`
	// Access are the rules of the htpasswd mode (default deny); in the
	// environment, DFSREG_AUTH_ACCESS holds them as a JSON list.
	Access []AccessRule `mapstructure:"access" desc:"htpasswd mode: access rules {repository, users, groups, actions}; rules only grant"`
	// Groups name sets of users for Access (DFSREG_AUTH_GROUPS: JSON list).
	Groups       []Group      `mapstructure:"groups" desc:"htpasswd mode: groups {name, users} that access rules can name"`
	FailedLogins FailedLogins `mapstructure:"failed_logins"`
}

// HTPasswd is the Basic authentication mode.
type HTPasswd struct {
	// Path is the htpasswd file (bcrypt entries only), re-read when it changes.
	Path  string `mapstructure:"path" desc:"htpasswd file (bcrypt only): HTTP Basic authentication; re-read when it changes"`
	Realm string `mapstructure:"realm" desc:"realm of the Basic challenge"`
}

// Token is the bearer token mode: the registry verifies JWTs that the token
// server at Realm issues for Service, signed by Issuer with a key of
// RootCertBundle.
type Token struct {
	Realm   string `mapstructure:"realm" desc:"token server URL: bearer token authentication"`
	Service string `mapstructure:"service" desc:"this registry's name: the aud claim tokens must carry"`
	Issuer  string `mapstructure:"issuer" desc:"the iss claim tokens must carry"`
	// RootCertBundle is a PEM file of certificates and/or public keys.
	RootCertBundle string `mapstructure:"rootcertbundle" desc:"PEM certificates and/or public keys that sign tokens"`
}

// AccessRule grants Actions (pull, push, delete, or * for all) on the
// repositories matching Repository (a glob: * within a path element, ** across
// elements, ? one character) to Users (* = every authenticated user) and to
// the members of Groups.
type AccessRule struct {
	Repository string   `mapstructure:"repository" desc:"repositories the rule applies to: a glob (* within a path element, ** across elements, ? one character)"`
	Users      []string `mapstructure:"users" desc:"users the rule grants its actions to (* = every authenticated user)"`
	Groups     []string `mapstructure:"groups" desc:"groups (names from auth.groups) whose members the rule grants its actions to"`
	Actions    []string `mapstructure:"actions" desc:"actions granted: pull, push, delete, or * for all"`
}

// Group is a named set of users.
type Group struct {
	Name  string   `mapstructure:"name" desc:"the group's name, as access rules give it"`
	Users []string `mapstructure:"users" desc:"the group's members (htpasswd users)"`
}

// FailedLogins bounds failed logins per client address: at most Max in a
// burst, refilled at Max per Window; beyond, 429.
type FailedLogins struct {
	Max    int           `mapstructure:"max" desc:"failed logins allowed per client address at once"`
	Window time.Duration `mapstructure:"window" desc:"one more failed login is allowed per client address every window/max"`
}

// Enabled reports whether serve authenticates clients.
func (a Auth) Enabled() bool { return a.HTPasswd.Path != "" || a.Token.Realm != "" }

func (a Auth) validate() error {
	var errs []error
	if a.HTPasswd.Path != "" && a.Token.Realm != "" {
		errs = append(errs, errors.New("auth: give auth.htpasswd.path or auth.token.realm, not both"))
	}
	if a.Token.Realm != "" {
		t := a.Token
		if t.Service == "" || t.Issuer == "" || t.RootCertBundle == "" {
			errs = append(errs, errors.New("auth.token needs service, issuer and rootcertbundle with realm"))
		}
		if u, err := url.Parse(t.Realm); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("auth.token.realm %q: want an http(s) URL", t.Realm))
		}
		if len(a.Access) > 0 || len(a.Groups) > 0 {
			errs = append(errs, errors.New("auth.access and auth.groups apply to the htpasswd mode; with auth.token the token's access claim decides"))
		}
	}
	if !a.Enabled() && (a.AnonymousPull || len(a.Access) > 0 || len(a.Groups) > 0) {
		errs = append(errs, errors.New("auth.anonymous_pull, auth.access and auth.groups need auth.htpasswd.path or auth.token.realm"))
	}
	if a.FailedLogins.Max <= 0 || a.FailedLogins.Window <= 0 {
		errs = append(errs, errors.New("auth.failed_logins.max and auth.failed_logins.window must be positive"))
	}
	return errors.Join(errs...)
}

// jsonListHook decodes a string (from the environment) given for a list of
// structs as a JSON list; decoding then goes on as for the file's YAML list.
func jsonListHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || to.Elem().Kind() != reflect.Struct {
		return data, nil
	}
	s, _ := data.(string)
	if s == "" {
		return nil, nil
	}
	var v []any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("want a JSON list: %w", err)
	}
	return v, nil
}
