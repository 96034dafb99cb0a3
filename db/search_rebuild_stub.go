package db

import "context"

// rebuildSearch is a stub: replaced by the search index's rebuild.
func (d *DB) rebuildSearch(ctx context.Context) error { return nil }
