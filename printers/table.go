package printers

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"
)

// kubectl get lays tables out with cli-runtime's GetNewTabWriter: an elastic
// tab writer with minimum cell width 6, padding 3, padded with spaces, and the
// RememberWidths flag, so a column never shrinks between flushes (rows that
// arrive later with `-w` stay aligned under the first listing).
const (
	tableMinWidth = 6
	tablePadding  = 3
)

// TableWriter writes rows of cells as kubectl get does. Every cell but the
// last of a row is padded to its column's width; the last cell is written as
// is. Column widths are remembered across WriteRows calls, as with kubectl's
// tab writer in watch mode: a column grows for a wider cell and never shrinks.
//
// It assumes every row of one table has the same number of cells, which is
// always true of the tables this package builds. Not safe for concurrent use.
type TableWriter struct {
	out    io.Writer
	widths []int
}

// NewTableWriter returns a TableWriter writing to out.
func NewTableWriter(out io.Writer) *TableWriter {
	return &TableWriter{out: out}
}

// WriteRows lays out rows (the header, if wanted, is just the first row) and
// writes them with a single Write call.
func (t *TableWriter) WriteRows(rows [][]string) error {
	clean := make([][]string, len(rows))
	for i, row := range rows {
		clean[i] = make([]string, len(row))
		for j, cell := range row {
			clean[i][j] = tableCell(cell)
		}
	}
	for _, row := range clean {
		for j := 0; j < len(row)-1; j++ {
			w := utf8.RuneCountInString(row[j]) + tablePadding
			if w < tableMinWidth {
				w = tableMinWidth
			}
			for len(t.widths) <= j {
				t.widths = append(t.widths, 0)
			}
			if w > t.widths[j] {
				t.widths[j] = w
			}
		}
	}
	var buf bytes.Buffer
	for _, row := range clean {
		for j, cell := range row {
			buf.WriteString(cell)
			if j < len(row)-1 {
				buf.WriteString(strings.Repeat(" ", t.widths[j]-utf8.RuneCountInString(cell)))
			}
		}
		buf.WriteByte('\n')
	}
	_, err := t.out.Write(buf.Bytes())
	return err
}

// tableCell makes one cell printable the way kubectl's table printer does: it
// is cut at the first line break (and marked with "...") so a row stays one
// line, and terminal escape characters are neutralised.
func tableCell(s string) string {
	if i := strings.IndexAny(s, "\f\n\r"); i >= 0 {
		s = s[:i] + "..."
	}
	return escapeTerminal(s)
}

// terminalEscaper replaces ESC and CR, like cli-runtime's WriteEscaped, so
// that text taken from a pod (names, messages) cannot drive the terminal.
var terminalEscaper = strings.NewReplacer("\x1b", "^[", "\r", "\\r")

func escapeTerminal(s string) string {
	return terminalEscaper.Replace(s)
}
