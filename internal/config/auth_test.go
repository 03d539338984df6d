package config

import (
	"reflect"
	"testing"
)

func TestAuthConfig(t *testing.T) {
	rules := []AccessRule{
		{Repository: "team/**", Users: []string{"alice"}, Actions: []string{"pull", "push"}},
		{Repository: "*", Groups: []string{"readers"}, Actions: []string{"pull"}},
	}
	for _, tc := range []struct {
		name    string
		yaml    string
		env     map[string]string
		check   func(t *testing.T, a Auth)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, a Auth) {
			if a.Enabled() || a.HTPasswd.Realm != "dfsreg" || a.FailedLogins.Max != 20 {
				t.Fatalf("%+v", a)
			}
		}},
		{name: "htpasswd and rules from the file", yaml: `auth:
  htpasswd:
    path: /etc/htpasswd
  anonymous_pull: true
  groups:
    - name: readers
      users: [bob]
  access:
    - repository: "team/**"
      users: [alice]
      actions: [pull, push]
    - repository: "*"
      groups: [readers]
      actions: [pull]
`, check: func(t *testing.T, a Auth) {
			if !a.Enabled() || a.HTPasswd.Path != "/etc/htpasswd" || !a.AnonymousPull {
				t.Fatalf("%+v", a)
			}
			if !reflect.DeepEqual(a.Access, rules) || !reflect.DeepEqual(a.Groups, []Group{{Name: "readers", Users: []string{"bob"}}}) {
				t.Fatalf("access %+v groups %+v", a.Access, a.Groups)
			}
		}},
		{name: "rules from the environment as JSON", env: map[string]string{
			"DFSREG_AUTH_HTPASSWD_PATH": "/h",
			"DFSREG_AUTH_ACCESS":        `[{"repository":"team/**","users":["alice"],"actions":["pull","push"]},{"repository":"*","groups":["readers"],"actions":["pull"]}]`,
			"DFSREG_AUTH_GROUPS":        `[{"name":"readers","users":["bob"]}]`,
		}, check: func(t *testing.T, a Auth) {
			if !reflect.DeepEqual(a.Access, rules) || len(a.Groups) != 1 {
				t.Fatalf("access %+v groups %+v", a.Access, a.Groups)
			}
		}},
		{name: "token from the environment", env: map[string]string{
			"DFSREG_AUTH_TOKEN_REALM": "http://127.0.0.1:1/token", "DFSREG_AUTH_TOKEN_SERVICE": "reg",
			"DFSREG_AUTH_TOKEN_ISSUER": "iss", "DFSREG_AUTH_TOKEN_ROOTCERTBUNDLE": "/k.pem",
		}, check: func(t *testing.T, a Auth) {
			if !a.Enabled() || a.Token.Service != "reg" || a.Token.RootCertBundle != "/k.pem" {
				t.Fatalf("%+v", a)
			}
		}},
		{name: "unknown key in a rule", yaml: "auth:\n  htpasswd:\n    path: /h\n  access:\n    - repository: x\n      user: [a]\n", wantErr: "user"},
		{name: "unknown auth key", yaml: "auth:\n  htpassword:\n    path: /h\n", wantErr: "unknown key(s) auth.htpassword.path"},
		{name: "bad JSON in the environment", env: map[string]string{"DFSREG_AUTH_HTPASSWD_PATH": "/h", "DFSREG_AUTH_ACCESS": "team/*=alice"}, wantErr: "JSON list"},
		{name: "both modes", env: map[string]string{"DFSREG_AUTH_HTPASSWD_PATH": "/h", "DFSREG_AUTH_TOKEN_REALM": "http://x"}, wantErr: "not both"},
		{name: "token realm not a URL", env: map[string]string{"DFSREG_AUTH_TOKEN_REALM": "auth.example.com/token", "DFSREG_AUTH_TOKEN_SERVICE": "s",
			"DFSREG_AUTH_TOKEN_ISSUER": "i", "DFSREG_AUTH_TOKEN_ROOTCERTBUNDLE": "/k"}, wantErr: `auth.token.realm "auth.example.com/token": want an http(s) URL`},
		{name: "token without service", env: map[string]string{"DFSREG_AUTH_TOKEN_REALM": "http://x"}, wantErr: "needs service, issuer and rootcertbundle"},
		{name: "rules without auth", yaml: "auth:\n  anonymous_pull: true\n", wantErr: "need auth.htpasswd.path or auth.token.realm"},
		{name: "no failed-login budget", env: map[string]string{"DFSREG_AUTH_FAILED_LOGINS_MAX": "0"}, wantErr: "failed_logins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := loadCase(t, tc.yaml, tc.env, nil, tc.wantErr); c != nil {
				tc.check(t, c.Auth)
			}
		})
	}
}
