// Package partition holds the 2DFS field model and the semantic reference
// grammar used to select parts of a field.
//
// A field is a sparse matrix of allotments (see ParseField). A semantic
// reference is a tag followed by one or more rectangles, for example
// "v1--0.0.1.1" (see ParseRef). A Selection is the union of such
// rectangles; Field.Select applies it and returns each selected allotment
// once, in row-major order.
//
// The package only parses and computes: it never performs I/O, prints or
// exits.
package partition
