//! Plain-text tables for people at a terminal: each column as wide as its widest cell, two
//! spaces apart, no trailing spaces. Every cell goes through [`crate::display::line`]: table
//! cells are CI claims, statements and other people's text, and must not drive the terminal.

/// A table being filled, row by row.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; cells past the header's are dropped, missing ones are empty.
    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.header.len())
            .map(|c| crate::display::line(c.as_ref()).into_owned())
            .collect();
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let padded: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(padded.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_widest_cell_and_cells_cannot_drive_the_terminal() {
        let mut t = Table::new(&["ID", "NAME"]);
        t.row(["1", "acme/shop"]);
        t.row(["22", "a\u{1b}[2Jb\n"]);
        t.row(["3"]);
        assert_eq!(
            t.render(),
            "ID  NAME\n1   acme/shop\n22  a\\u{1b}[2Jb\\u{a}\n3\n"
        );
    }
}
