//! The matrix as a Markdown table.

use std::collections::BTreeSet;

use super::model::Matrix;

impl Matrix {
    /// The matrix as a Markdown table, for READMEs.
    ///
    /// [`Layout::List`]: one row per entry (application range, Kubernetes
    /// range, and the image, platforms and notes columns when any entry has
    /// them). [`Layout::Grid`]: one row per entry, one column per Kubernetes
    /// minor, `✓` where supported.
    pub fn to_markdown(&self, layout: Layout) -> String {
        let app_header = self.name.clone().unwrap_or_else(|| "Version".into());
        let (header, rows) = match layout {
            Layout::List => self.list_rows(app_header),
            Layout::Grid => self.grid_rows(app_header),
        };
        let mut out = String::new();
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| escape_cell(c)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        out.push_str(&line(&header));
        out.push_str(&format!(
            "|{}\n",
            header.iter().map(|_| "---|").collect::<String>()
        ));
        for row in &rows {
            out.push_str(&line(row));
        }
        out
    }

    /// The header and rows of the list layout: one row per entry.
    fn list_rows(&self, app_header: String) -> (Vec<String>, Vec<Vec<String>>) {
        let mut rows: Vec<Vec<String>> = Vec::new();
        let images = self.entries.iter().any(|e| e.image.is_some());
        let platforms = self.entries.iter().any(|e| !e.platforms.is_empty());
        let notes = self.entries.iter().any(|e| e.notes.is_some());
        let mut header = vec![app_header, "Kubernetes".to_owned()];
        if images {
            header.push("Image".into());
        }
        if platforms {
            header.push("Platforms".into());
        }
        if notes {
            header.push("Notes".into());
        }
        for e in &self.entries {
            let mut row = vec![e.app.as_str().to_owned(), e.kubernetes.to_string()];
            if images {
                row.push(
                    e.image
                        .as_ref()
                        .map(|i| format!("`{i}`"))
                        .unwrap_or_default(),
                );
            }
            if platforms {
                row.push(e.platforms.join(", "));
            }
            if notes {
                row.push(e.notes.clone().unwrap_or_default());
            }
            rows.push(row);
        }
        (header, rows)
    }

    /// The header and rows of the grid layout: a column per Kubernetes minor.
    fn grid_rows(&self, app_header: String) -> (Vec<String>, Vec<Vec<String>>) {
        let mut rows: Vec<Vec<String>> = Vec::new();
        let minors: BTreeSet<(u64, u64)> = self
            .entries
            .iter()
            .flat_map(|e| {
                let (lo, hi) = self.span_of_major(e.kubernetes.major);
                (lo..=hi).map(move |m| (e.kubernetes.major, m))
            })
            .collect();
        let mut header = vec![app_header];
        header.extend(
            minors
                .iter()
                .map(|(major, minor)| format!("{major}.{minor}")),
        );
        for e in &self.entries {
            let mut row = vec![e.app.as_str().to_owned()];
            row.extend(minors.iter().map(|&(major, minor)| {
                if e.kubernetes.contains(major, minor) {
                    "✓".to_owned()
                } else {
                    String::new()
                }
            }));
            rows.push(row);
        }
        (header, rows)
    }

    /// The lowest and highest minor any entry names for `major`.
    fn span_of_major(&self, major: u64) -> (u64, u64) {
        let of_major = self.entries.iter().filter(|e| e.kubernetes.major == major);
        let lo = of_major.clone().map(|e| e.kubernetes.first).min();
        let hi = of_major.map(|e| e.kubernetes.last).max();
        (lo.unwrap_or(0), hi.unwrap_or(0))
    }
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// How [`Matrix::to_markdown`] lays out the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One row per entry with its ranges, image and platforms.
    #[default]
    List,
    /// One column per Kubernetes minor, `✓` where supported.
    Grid,
}
