package auth

import (
	"strings"
	"testing"

	"github.com/dfsreg/dfsreg/internal/config"
)

func TestRules(t *testing.T) {
	rs, err := NewRules([]config.AccessRule{
		{Repository: "team/**", Users: []string{"alice"}, Actions: []string{"*"}},
		{Repository: "team/*", Groups: []string{"readers"}, Actions: []string{"pull"}},
		{Repository: "public/app?", Users: []string{"*"}, Actions: []string{"pull"}},
		{Repository: "bob/*", Users: []string{"bob"}, Actions: []string{"pull", "push"}},
	}, []config.Group{{Name: "readers", Users: []string{"carol", "bob"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, repo, action string
		want               bool
	}{
		{"alice", "team/a", Pull, true},
		{"alice", "team/a/b/c", Delete, true},
		{"alice", "team", Pull, false}, // "team/**" needs the slash
		{"alice", "teams/a", Pull, false},
		{"carol", "team/a", Pull, true},
		{"carol", "team/a", Push, false},
		{"carol", "team/a/b", Pull, false}, // "*" stays in one element
		{"bob", "team/x", Pull, true},      // via readers
		{"bob", "bob/x", Push, true},
		{"bob", "bob/x", Delete, false},
		{"dave", "public/app1", Pull, true}, // "*": any authenticated user
		{"dave", "public/app12", Pull, false},
		{"dave", "public/app1", Push, false},
		{"dave", "team/a", Pull, false}, // default deny
		{"", "public/app1", Pull, true},
	} {
		if got := rs.Allowed(tc.user, tc.repo, tc.action); got != tc.want {
			t.Errorf("%s %s %s: %v, want %v", tc.user, tc.action, tc.repo, got, tc.want)
		}
	}
}

func TestRulesInvalid(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rule   config.AccessRule
		groups []config.Group
		want   string
	}{
		{"bad action", config.AccessRule{Repository: "a", Users: []string{"x"}, Actions: []string{"write"}}, nil, `action "write"`},
		{"no actions", config.AccessRule{Repository: "a", Users: []string{"x"}}, nil, "no actions"},
		{"no subjects", config.AccessRule{Repository: "a", Actions: []string{"pull"}}, nil, "no users and no groups"},
		{"unknown group", config.AccessRule{Repository: "a", Groups: []string{"g"}, Actions: []string{"pull"}}, nil, `unknown group "g"`},
		{"bad glob", config.AccessRule{Repository: "A[b]", Users: []string{"x"}, Actions: []string{"pull"}}, nil, "cannot be in a repository name"},
		{"empty glob", config.AccessRule{Users: []string{"x"}, Actions: []string{"pull"}}, nil, "empty pattern"},
		{"repeated group", config.AccessRule{Repository: "a", Users: []string{"x"}, Actions: []string{"pull"}}, []config.Group{{Name: "g"}, {Name: "g"}}, "repeated"},
	} {
		_, err := NewRules([]config.AccessRule{tc.rule}, tc.groups)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
