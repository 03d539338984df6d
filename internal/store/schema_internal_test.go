package store

import "testing"

// TestMigrationDropsPutIndexes: a store made with migrations 1-4 loses the
// two indexes migration 5 drops, and a new store never has them.
func TestMigrationDropsPutIndexes(t *testing.T) {
	indexes := func(s *Store) int {
		t.Helper()
		var n int
		if err := s.db.queryRow(t.Context(), `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN ('refs_child', 'tags_digest')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	root := t.TempDir()
	all := migrations
	migrations = all[:4]
	old, err := Open(t.Context(), Options{Root: root})
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	if n := indexes(old); n != 2 {
		t.Fatalf("a store at schema 4 has %d of the two indexes", n)
	}
	old.Close()
	s, err := Open(t.Context(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := indexes(s); n != 0 {
		t.Fatalf("after migration 5, %d of the two indexes are left", n)
	}
}
