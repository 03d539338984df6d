package auth

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/dfsreg/dfsreg/internal/config"
)

// Rules are the access rules of the htpasswd mode: each grants actions on
// the repositories its glob matches to users and groups. Rules only grant;
// what none grants is denied.
type Rules struct {
	rules    []rule
	groupsOf map[string][]string // user -> groups
}

type rule struct {
	re      *regexp.Regexp
	users   []string // "*": any authenticated user
	groups  []string
	actions []string // pull, push, delete; "*" expanded
}

// NewRules checks and compiles rules and groups.
func NewRules(access []config.AccessRule, groups []config.Group) (*Rules, error) {
	rs := &Rules{groupsOf: map[string][]string{}}
	var errs []error
	known := map[string]bool{}
	for i, g := range groups {
		if g.Name == "" || known[g.Name] {
			errs = append(errs, fmt.Errorf("auth.groups[%d]: empty or repeated name %q", i, g.Name))
		}
		known[g.Name] = true
		for _, u := range g.Users {
			rs.groupsOf[u] = append(rs.groupsOf[u], g.Name)
		}
	}
	for i, a := range access {
		re, err := globRegexp(a.Repository)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.access[%d]: repository %q: %w", i, a.Repository, err))
		}
		if len(a.Users) == 0 && len(a.Groups) == 0 {
			errs = append(errs, fmt.Errorf("auth.access[%d]: no users and no groups", i))
		}
		for _, g := range a.Groups {
			if !known[g] {
				errs = append(errs, fmt.Errorf("auth.access[%d]: unknown group %q (define it in auth.groups)", i, g))
			}
		}
		var acts []string
		for _, act := range a.Actions {
			switch act {
			case Pull, Push, Delete:
				acts = append(acts, act)
			case All:
				acts = append(acts, Pull, Push, Delete)
			default:
				errs = append(errs, fmt.Errorf("auth.access[%d]: action %q: want pull, push, delete or *", i, act))
			}
		}
		if len(a.Actions) == 0 {
			errs = append(errs, fmt.Errorf("auth.access[%d]: no actions", i))
		}
		rs.rules = append(rs.rules, rule{re: re, users: a.Users, groups: a.Groups, actions: acts})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rs, nil
}

// Allowed reports whether some rule grants user action on repo.
func (rs *Rules) Allowed(user, repo, action string) bool {
	for _, r := range rs.rules {
		if !slices.Contains(r.actions, action) || !r.re.MatchString(repo) {
			continue
		}
		if slices.Contains(r.users, All) || slices.Contains(r.users, user) {
			return true
		}
		for _, g := range rs.groupsOf[user] {
			if slices.Contains(r.groups, g) {
				return true
			}
		}
	}
	return false
}

// globRegexp compiles a repository glob: "*" any run within one path
// element, "**" any run across elements, "?" one character but "/".
func globRegexp(glob string) (*regexp.Regexp, error) {
	if glob == "" {
		return nil, errors.New("empty pattern")
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; {
		case c == '*' && i+1 < len(glob) && glob[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case strings.IndexByte("abcdefghijklmnopqrstuvwxyz0123456789._-/", c) >= 0:
			b.WriteString(regexp.QuoteMeta(string(c)))
		default:
			return nil, fmt.Errorf("character %q cannot be in a repository name", c)
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
