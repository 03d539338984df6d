package store

import "testing"

// TestMigrationIndexes: a store made with migrations 1-4 loses tags_digest
// (migration 5) and keeps refs_child (dropped by 5, restored by 6), as a
// new store does.
func TestMigrationIndexes(t *testing.T) {
	index := func(s *Store, name string) bool {
		t.Helper()
		var n int
		if err := s.db.queryRow(t.Context(), `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	root := t.TempDir()
	all := migrations
	migrations = all[:4]
	old, err := Open(t.Context(), Options{Root: root})
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	if !index(old, "refs_child") || !index(old, "tags_digest") {
		t.Fatal("a store at schema 4 lacks refs_child or tags_digest")
	}
	old.Close()
	s, err := Open(t.Context(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if index(s, "tags_digest") || !index(s, "refs_child") {
		t.Fatalf("after migrations 5 and 6: tags_digest %v, refs_child %v; want only refs_child", index(s, "tags_digest"), index(s, "refs_child"))
	}
	fresh, err := Open(t.Context(), Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if index(fresh, "tags_digest") || !index(fresh, "refs_child") {
		t.Fatal("a new store's indexes differ from a migrated one's")
	}
}
