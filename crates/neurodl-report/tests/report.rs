//! HTML reports: self-contained, escaped, structured; atomic writes.

mod common;

use base64::Engine as _;
use neurodl_report::{Curve, Report, ReportError, line_plot_png, write_png};

const EVIL: &str = "<script>alert('x')</script> & \"quoted\"";

fn sample_png() -> Vec<u8> {
    line_plot_png(
        "t",
        "x",
        "y",
        &[Curve::from_values("a", vec![1.0, 2.0, 1.5])],
        (320, 200),
    )
    .expect("renders")
}

fn full_report() -> Report {
    let png = sample_png();
    let mut r = Report::new(EVIL);
    r.subtitle(EVIL)
        .key_values(&[(EVIL.into(), EVIL.into())])
        .section(EVIL)
        .paragraph(EVIL)
        .table(
            EVIL,
            &[EVIL.into(), "n".into()],
            &[vec![EVIL.into(), "3".into()], vec!["short row".into()]],
        )
        .image_png(EVIL, &png)
        .section("Config")
        .preformatted(EVIL, EVIL)
        .section("Third");
    r
}

#[test]
fn report_is_self_contained() {
    let html = full_report().to_html();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for forbidden in [
        "src=\"http",
        "href=\"http",
        "<link",
        "@import",
        "url(",
        "<script",
        "<iframe",
    ] {
        assert!(!html.contains(forbidden), "found {forbidden:?}");
    }
    assert!(html.contains("<style>"), "inline CSS");
    assert_eq!(html.matches("<img src=\"data:image/png;base64,").count(), 1);
}

#[test]
fn embedded_image_decodes_to_the_original_bytes() {
    let png = sample_png();
    let mut r = Report::new("img");
    r.image_png("plot", &png);
    let html = r.to_html();
    let start = html.find("data:image/png;base64,").expect("data URI") + "data:image/png;base64,".len();
    let end = start + html[start..].find('"').expect("closing quote");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&html[start..end])
        .expect("valid base64");
    assert_eq!(decoded, png);
    let (w, h, _) = common::decode(&decoded);
    assert!(html.contains(&format!("width=\"{w}\" height=\"{h}\"")));
}

#[test]
fn every_text_is_escaped() {
    let html = full_report().to_html();
    assert!(!html.contains("<script>"));
    assert!(!html.contains("alert('x')"), "quotes inside text are escaped too");
    let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;";
    // title (twice: <title> and <h1>), subtitle, key, value, section (heading and contents
    // entry), paragraph, table caption, header, cell, image alt and caption, pre caption, pre.
    assert_eq!(html.matches(escaped).count(), 15, "{html}");
}

#[test]
fn sections_get_anchors_and_a_table_of_contents() {
    let html = full_report().to_html();
    assert!(html.contains("<nav class=\"toc\">"));
    for i in 1..=3 {
        assert!(html.contains(&format!("<section id=\"section-{i}\">")));
        assert!(html.contains(&format!("href=\"#section-{i}\"")));
    }
    assert_eq!(
        html.matches("<section").count(),
        html.matches("</section>").count()
    );
    let mut short = Report::new("one section");
    short.section("only").paragraph("text");
    assert!(
        !short.to_html().contains("<nav"),
        "no contents for a short report"
    );
}

#[test]
fn tables_are_padded_and_numbers_right_aligned() {
    let mut r = Report::new("t");
    r.table(
        "",
        &["model".into(), "acc".into(), "kappa".into()],
        &[
            vec!["a".into(), "0.71 ± 0.04".into(), "0.6".into()],
            vec!["b".into()],
        ],
    );
    let html = r.to_html();
    assert!(html.contains("<tr><td>b</td><td></td><td></td></tr>"), "{html}");
    assert!(html.contains("<td class=\"num\">0.71 ± 0.04</td><td class=\"num\">0.6</td>"));
    assert!(!html.contains("<caption>"), "no empty caption");
}

#[test]
fn non_png_bytes_are_not_embedded() {
    let mut r = Report::new("t");
    r.image_png("broken", b"definitely not a PNG");
    let html = r.to_html();
    assert!(!html.contains("data:image/png"));
    assert!(html.contains("class=\"error\"") && html.contains("broken"));
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(full_report().to_html(), full_report().to_html());
    assert_eq!(sample_png(), sample_png());
}

#[test]
fn write_is_atomic_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("report.html");
    std::fs::write(&path, "old").expect("seed file");
    let report = full_report();
    report.write(&path).expect("writes");
    assert_eq!(std::fs::read_to_string(&path).expect("reads"), report.to_html());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("report.html")]);
}

#[test]
fn write_into_a_missing_folder_fails_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing").join("report.html");
    let err = Report::new("t").write(&path).expect_err("no such folder");
    assert!(matches!(err, ReportError::Io { .. }));
    assert!(err.to_string().contains("missing"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("lists").count(), 0);
    // A folder as the target: the temporary file is made beside it, in `dir`, and must go.
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("creates");
    let err = Report::new("t").write(&sub).expect_err("a folder is not a file");
    assert!(matches!(err, ReportError::Io { .. }));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("sub")],
        "no temporary file left"
    );
}

#[test]
fn write_png_checks_the_signature_and_writes_atomically() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plot.png");
    let png = sample_png();
    write_png(&path, &png).expect("writes");
    assert_eq!(std::fs::read(&path).expect("reads"), png);
    assert!(matches!(
        write_png(&path, b"<html>"),
        Err(ReportError::InvalidInput { .. })
    ));
    assert_eq!(std::fs::read(&path).expect("reads"), png, "the old file is kept");
    assert_eq!(std::fs::read_dir(dir.path()).expect("lists").count(), 1);
}
