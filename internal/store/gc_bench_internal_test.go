package store

import (
	"fmt"
	"testing"
)

// BenchmarkLinkPage: one page of gc's link sweep (linkQuery: up to 1000
// links no refs row names) in a repository of 100,000 edges, 1% of its
// links unreferenced. It runs inside a write transaction, so every push
// waits for it: with refs_child each candidate is an index probe (~0.13 s
// a page here); without it the query builds the set of every referenced
// child for each page, which grows with the repository (0.40 s here, 1.66 s
// at 400,000 edges).
func BenchmarkLinkPage(b *testing.B) {
	d, err := openDB(b.TempDir() + "/m.db")
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	const edges = 100000
	err = d.update(b.Context(), func(tx *tx) error {
		if _, err := tx.Exec(`INSERT INTO repos (id, name, created) VALUES (1, 'r', 0)`); err != nil {
			return err
		}
		for i := range edges {
			c := fmt.Sprintf("sha256:%064x", i*2654435761%1000003+i)
			if _, err := tx.Exec(`INSERT OR IGNORE INTO blobs (digest, size, created, touched) VALUES (?, 1, 0, 0)`, c); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT OR IGNORE INTO repo_blobs (repo, digest, touched) VALUES (1, ?, 0)`, c); err != nil {
				return err
			}
			if i%100 != 0 {
				if _, err := tx.Exec(`INSERT OR IGNORE INTO refs (repo, parent, kind, child) VALUES (1, ?, 1, ?)`, fmt.Sprintf("sha256:%064x", i/10), c); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		var n int
		err := d.update(b.Context(), func(tx *tx) error {
			rows, err := tx.Query(linkQuery, 1, "", 1, gcLinkBatch)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				n++
			}
			return rows.Err()
		})
		if err != nil || n != edges/100 {
			b.Fatalf("%d unreferenced links found, %v; want %d", n, err, edges/100)
		}
	}
}
