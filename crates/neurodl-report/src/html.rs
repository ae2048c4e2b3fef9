//! Self-contained HTML reports: one file with inline CSS and images as data URIs, so it
//! opens anywhere, offline, and can be mailed or archived as is.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;

use crate::atomic::{PNG_SIGNATURE, write_atomic};
use crate::error::ReportError;

/// A report under construction: a title and a sequence of blocks, rendered in order.
///
/// Every text given (title, headings, cells, captions, preformatted text) is HTML-escaped,
/// so labels and configuration values can hold `<`, `&` or quotes safely. The document
/// loads nothing from outside: no scripts, no fonts, no stylesheets, no remote images.
///
/// ```
/// use neurodl_report::Report;
/// let mut r = Report::new("ShallowFBCSPNet on BCI IV 2a");
/// r.subtitle("within-subject, 5-fold")
///     .section("Results")
///     .table("Accuracy", &["fold".into(), "accuracy".into()], &[vec!["1".into(), "0.71".into()]]);
/// let html = r.to_html();
/// assert!(html.starts_with("<!DOCTYPE html>"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    title: String,
    blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
enum Block {
    Subtitle(String),
    Section(String),
    Paragraph(String),
    KeyValues(Vec<(String, String)>),
    Table {
        caption: String,
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Image {
        caption: String,
        png: Vec<u8>,
    },
    Preformatted {
        caption: String,
        text: String,
    },
}

/// Reports with at least this many sections get a table of contents.
const TOC_MIN_SECTIONS: usize = 3;

impl Report {
    /// An empty report with the given title (the page title and the top heading).
    pub fn new(title: impl Into<String>) -> Self {
        Report {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    /// The report's title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// A line of secondary text (e.g. dataset, date, commit), shown under the title when
    /// added before the first section.
    pub fn subtitle(&mut self, text: &str) -> &mut Self {
        self.blocks.push(Block::Subtitle(text.to_string()));
        self
    }

    /// Starts a new section with this heading; blocks added after it belong to it.
    pub fn section(&mut self, heading: &str) -> &mut Self {
        self.blocks.push(Block::Section(heading.to_string()));
        self
    }

    /// A paragraph of text; line breaks in `text` are kept.
    pub fn paragraph(&mut self, text: &str) -> &mut Self {
        self.blocks.push(Block::Paragraph(text.to_string()));
        self
    }

    /// A two-column table of metadata (key in bold, value beside it).
    pub fn key_values(&mut self, rows: &[(String, String)]) -> &mut Self {
        self.blocks.push(Block::KeyValues(rows.to_vec()));
        self
    }

    /// A table with a caption (may be empty) and a header row. Rows shorter than the
    /// widest row or the header are padded with empty cells. Cells that read as numbers
    /// (optionally with `%` or as `a ± b`) are right-aligned.
    pub fn table(&mut self, caption: &str, header: &[String], rows: &[Vec<String>]) -> &mut Self {
        self.blocks.push(Block::Table {
            caption: caption.to_string(),
            header: header.to_vec(),
            rows: rows.to_vec(),
        });
        self
    }

    /// A PNG image (e.g. from [`crate::line_plot_png`]) embedded as a base64 data URI, with
    /// a caption (may be empty). Bytes that are not a PNG are not embedded: the report
    /// shows a visible note in their place instead of a broken image.
    pub fn image_png(&mut self, caption: &str, png: &[u8]) -> &mut Self {
        self.blocks.push(Block::Image {
            caption: caption.to_string(),
            png: png.to_vec(),
        });
        self
    }

    /// Monospaced text kept exactly as given (e.g. the resolved TOML configuration, a log
    /// excerpt), with a caption (may be empty).
    pub fn preformatted(&mut self, caption: &str, text: &str) -> &mut Self {
        self.blocks.push(Block::Preformatted {
            caption: caption.to_string(),
            text: text.to_string(),
        });
        self
    }

    /// The whole document as one HTML5 string.
    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(
            4096 + self
                .blocks
                .iter()
                .map(|b| match b {
                    Block::Image { png, .. } => png.len() * 4 / 3 + 256,
                    _ => 256,
                })
                .sum::<usize>(),
        );
        let title = escape_html(&self.title);
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        let _ = writeln!(
            out,
            "<meta name=\"generator\" content=\"neurodl-report {}\">",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(out, "<title>{title}</title>");
        let _ = writeln!(out, "<style>{CSS}</style>\n</head>\n<body>\n<main>");
        let _ = writeln!(out, "<header>\n<h1>{title}</h1>");

        let sections: Vec<&String> = self
            .blocks
            .iter()
            .filter_map(|b| if let Block::Section(h) = b { Some(h) } else { None })
            .collect();
        let first_section = self.blocks.iter().position(|b| matches!(b, Block::Section(_)));
        let (head, body) = self.blocks.split_at(first_section.unwrap_or(self.blocks.len()));
        // Subtitles before the first section belong to the header; other blocks there
        // follow it.
        for b in head.iter().filter(|b| matches!(b, Block::Subtitle(_))) {
            render_block(&mut out, b);
        }
        out.push_str("</header>\n");
        if sections.len() >= TOC_MIN_SECTIONS {
            out.push_str("<nav class=\"toc\"><h2>Contents</h2>\n<ol>\n");
            for (i, h) in sections.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "<li><a href=\"#section-{}\">{}</a></li>",
                    i + 1,
                    escape_html(h)
                );
            }
            out.push_str("</ol>\n</nav>\n");
        }
        for b in head.iter().filter(|b| !matches!(b, Block::Subtitle(_))) {
            render_block(&mut out, b);
        }
        let mut index = 0;
        for b in body {
            if let Block::Section(h) = b {
                if index > 0 {
                    out.push_str("</section>\n");
                }
                index += 1;
                let _ = writeln!(
                    out,
                    "<section id=\"section-{index}\">\n<h2>{}</h2>",
                    escape_html(h)
                );
            } else {
                render_block(&mut out, b);
            }
        }
        if index > 0 {
            out.push_str("</section>\n");
        }
        let _ = writeln!(
            out,
            "</main>\n<footer>Generated by neurodl-report {}</footer>\n</body>\n</html>",
            env!("CARGO_PKG_VERSION")
        );
        out
    }

    /// Writes [`Report::to_html`] to `path` atomically: a temporary file in the same
    /// folder, synced to disk, then renamed over `path`.
    ///
    /// # Errors
    /// [`ReportError::Io`] when the folder does not exist or cannot be written; `path`
    /// is then unchanged and no temporary file is left behind.
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        write_atomic(path, self.to_html().as_bytes())
    }
}

fn render_block(out: &mut String, block: &Block) {
    match block {
        Block::Subtitle(t) => {
            let _ = writeln!(out, "<p class=\"subtitle\">{}</p>", escape_html(t));
        }
        Block::Section(h) => {
            let _ = writeln!(out, "<h2>{}</h2>", escape_html(h));
        }
        Block::Paragraph(t) => {
            let _ = writeln!(out, "<p>{}</p>", escape_html(t));
        }
        Block::KeyValues(rows) => {
            out.push_str("<div class=\"scroll\"><table class=\"kv\">\n<tbody>\n");
            for (k, v) in rows {
                let _ = writeln!(
                    out,
                    "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                    escape_html(k),
                    escape_html(v)
                );
            }
            out.push_str("</tbody>\n</table></div>\n");
        }
        Block::Table {
            caption,
            header,
            rows,
        } => render_table(out, caption, header, rows),
        Block::Image { caption, png } => render_image(out, caption, png),
        Block::Preformatted { caption, text } => {
            out.push_str("<figure class=\"pre\">\n");
            if !caption.is_empty() {
                let _ = writeln!(out, "<figcaption>{}</figcaption>", escape_html(caption));
            }
            let _ = writeln!(out, "<pre>{}</pre>\n</figure>", escape_html(text));
        }
    }
}

fn render_table(out: &mut String, caption: &str, header: &[String], rows: &[Vec<String>]) {
    let width = rows.iter().map(Vec::len).chain([header.len()]).max().unwrap_or(0);
    out.push_str("<div class=\"scroll\"><table>\n");
    if !caption.is_empty() {
        let _ = writeln!(out, "<caption>{}</caption>", escape_html(caption));
    }
    if !header.is_empty() {
        out.push_str("<thead><tr>");
        for k in 0..width {
            let h = header.get(k).map_or("", String::as_str);
            let _ = write!(out, "<th scope=\"col\">{}</th>", escape_html(h));
        }
        out.push_str("</tr></thead>\n");
    }
    out.push_str("<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for k in 0..width {
            let cell = row.get(k).map_or("", String::as_str);
            if looks_numeric(cell) {
                let _ = write!(out, "<td class=\"num\">{}</td>", escape_html(cell));
            } else {
                let _ = write!(out, "<td>{}</td>", escape_html(cell));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
}

fn render_image(out: &mut String, caption: &str, png: &[u8]) {
    let Some((w, h)) = png_dimensions(png) else {
        let _ = writeln!(
            out,
            "<p class=\"error\">Image {} could not be embedded: the data is not a PNG file.</p>",
            escape_html(&format!("“{caption}”"))
        );
        return;
    };
    let data = base64::engine::general_purpose::STANDARD.encode(png);
    out.push_str("<figure>\n");
    let _ = writeln!(
        out,
        "<img src=\"data:image/png;base64,{data}\" width=\"{w}\" height=\"{h}\" alt=\"{}\">",
        escape_html(caption)
    );
    if !caption.is_empty() {
        let _ = writeln!(out, "<figcaption>{}</figcaption>", escape_html(caption));
    }
    out.push_str("</figure>\n");
}

/// Width and height from a PNG's IHDR chunk, or `None` if `png` is not a PNG.
fn png_dimensions(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || !png.starts_with(PNG_SIGNATURE) || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes([png[i], png[i + 1], png[i + 2], png[i + 3]]);
    Some((be(16), be(20)))
}

/// A cell that reads as a number: `0.73`, `-4`, `71.2%`, `0.71 ± 0.04`, `1e-3`.
fn looks_numeric(cell: &str) -> bool {
    let cell = cell.trim();
    !cell.is_empty()
        && cell.split('±').all(|part| {
            let p = part.trim();
            let p = p.strip_suffix('%').unwrap_or(p).trim_end();
            !p.is_empty() && p.parse::<f64>().is_ok_and(f64::is_finite)
        })
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Inline stylesheet: readable on screen, clean in print, no web fonts.
const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #1f2328;
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 36px 44px 48px; background: #fff;
  min-height: 100vh; box-shadow: 0 0 0 1px #e2e4e8; }
header { margin-bottom: 8px; }
h1 { font-size: 28px; line-height: 1.25; margin: 0 0 6px; }
h2 { font-size: 21px; margin: 40px 0 14px; padding-bottom: 6px; border-bottom: 1px solid #e2e4e8; }
.subtitle { color: #57606a; margin: 0 0 4px; font-size: 16px; }
p { white-space: pre-line; margin: 10px 0; max-width: 80ch; }
p.error { color: #a40e26; background: #fff0f0; border: 1px solid #f2c4c4; padding: 8px 12px; border-radius: 4px; }
nav.toc { margin: 20px 0 8px; padding: 12px 20px; background: #f7f8fa; border: 1px solid #e2e4e8; border-radius: 6px; }
nav.toc h2 { font-size: 15px; margin: 0 0 6px; padding: 0; border: 0; }
nav.toc ol { margin: 0; padding-left: 22px; }
a { color: #0a58ca; text-decoration: none; }
a:hover { text-decoration: underline; }
.scroll { overflow-x: auto; margin: 12px 0 22px; }
table { border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 0 0 8px; color: #333; }
th, td { padding: 6px 14px; border-bottom: 1px solid #e6e8eb; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; border-bottom: 2px solid #cdd1d6; font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num { text-align: right; white-space: nowrap; }
table.kv th { font-weight: 600; color: #3d444d; white-space: nowrap; background: none; }
table.kv td { word-break: break-word; }
figure { margin: 18px 0 26px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #eceef1; border-radius: 2px; }
figcaption { color: #57606a; font-size: 14px; margin: 6px 0; }
figure.pre figcaption { font-weight: 600; color: #333; }
pre { margin: 0; padding: 12px 14px; overflow: auto; background: #f6f8fa; border: 1px solid #e2e4e8; border-radius: 6px;
  font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; }
footer { max-width: 1120px; margin: 0 auto; padding: 14px 44px 28px; color: #8b949e; font-size: 12px; }
@media print {
  body { background: #fff; }
  main { box-shadow: none; padding: 0; max-width: none; }
  figure, table, pre { break-inside: avoid; }
  nav.toc { display: none; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_all_markup_characters() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain ± text"), "plain ± text");
    }

    #[test]
    fn numeric_cells_are_recognised() {
        for s in ["0.73", "-4", "71.2%", "0.71 ± 0.04", "1e-3", " 12 "] {
            assert!(looks_numeric(s), "{s}");
        }
        for s in ["", "fold 1", "NaN", "inf", "±", "1 ± x", "%"] {
            assert!(!looks_numeric(s), "{s}");
        }
    }

    #[test]
    fn png_dimensions_come_from_ihdr() {
        let png = crate::canvas::encode_png(3, 2, &[0; 18]).expect("encodes");
        assert_eq!(png_dimensions(&png), Some((3, 2)));
        assert_eq!(png_dimensions(b"GIF89a not a png at all"), None);
    }
}
