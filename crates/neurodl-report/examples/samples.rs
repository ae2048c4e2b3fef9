//! Writes one sample of every plot and a report into a folder (default `/tmp/neurodl-report`),
//! to look at them: `cargo run -p neurodl-report --example samples -- /tmp/out`.

use neurodl_report::*;

fn main() -> Result<(), ReportError> {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/neurodl-report".into()),
    );
    std::fs::create_dir_all(&out).map_err(|source| ReportError::Io {
        path: out.clone(),
        source,
    })?;

    let mut curves = Vec::new();
    for f in 0..5 {
        let y: Vec<f64> = (1..=30)
            .map(|e| 1.4 * (-(e as f64) / (8.0 + f as f64)).exp() + 0.3 + 0.02 * ((e * (f + 3)) as f64).sin())
            .collect();
        curves.push(Curve::from_values(format!("fold {} valid loss", f + 1), y));
    }
    curves[2].y[10] = f64::NAN;
    curves.push(Curve::new("single point", vec![15.0], vec![0.9]));
    let line = line_plot_png(
        "Learning curves (ShallowFBCSPNet, BCI IV 2a)",
        "epoch",
        "loss",
        &curves,
        (900, 560),
    )?;
    write_png(&out.join("line.png"), &line)?;

    let long: Vec<f64> = (0..400).map(|i| (i as f64 / 30.0).sin() * 0.3 + 0.6).collect();
    let one = line_plot_png(
        "",
        "epoch",
        "accuracy",
        &[Curve::from_values("valid", long)],
        (640, 360),
    )?;
    write_png(&out.join("line_single.png"), &one)?;

    let labels: Vec<String> = ["left hand", "right hand", "feet", "tongue"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let counts = vec![
        vec![61, 7, 2, 2],
        vec![9, 55, 4, 4],
        vec![3, 5, 48, 16],
        vec![1, 3, 12, 56],
    ];
    let cm = confusion_matrix_png("Confusion matrix (all folds)", &labels, &counts, (640, 560))?;
    write_png(&out.join("confusion.png"), &cm)?;

    let many: Vec<String> = (0..12).map(|i| format!("class {i}")).collect();
    let mc: Vec<Vec<u64>> = (0..12)
        .map(|i| {
            (0..12)
                .map(|j| if i == j { 80 } else { ((i * 7 + j * 3) % 9) as u64 })
                .collect()
        })
        .collect();
    let cm2 = confusion_matrix_png("12 classes", &many, &mc, (800, 760))?;
    write_png(&out.join("confusion12.png"), &cm2)?;

    let bars = vec![
        Bar::with_err("ShallowFBCSPNet", 0.734, 0.052),
        Bar::with_err("Deep4Net", 0.701, 0.061),
        Bar::with_err("EEGNet", 0.722, 0.048),
        Bar::with_err("EEGConformer", 0.689, 0.07),
        Bar::with_err("ATCNet", 0.751, 0.044),
        Bar::new("CSP+LDA", 0.655),
    ];
    let bar = bar_chart_png(
        "Accuracy per model (mean ± sd over 9 subjects)",
        "accuracy",
        &bars,
        Some((0.25, "chance (0.25)")),
        (900, 520),
    )?;
    write_png(&out.join("bars.png"), &bar)?;

    let subj: Vec<Bar> = (1..=30)
        .map(|i| Bar::new(format!("sub-{i:03}"), 0.4 + 0.5 * ((i * 37 % 17) as f64 / 17.0)))
        .collect();
    let bar2 = bar_chart_png(
        "Accuracy per subject",
        "accuracy",
        &subj,
        Some((0.5, "chance")),
        (900, 480),
    )?;
    write_png(&out.join("bars_subjects.png"), &bar2)?;

    let (w, h) = (96, 80);
    let mut px = vec![0f32; w * h];
    let mut ov = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - 48.0, y as f32 - 40.0);
            let r = (dx * dx / 1600.0 + dy * dy / 1000.0).sqrt();
            px[y * w + x] = if r < 1.0 {
                200.0 - 80.0 * r + 10.0 * ((x * y) as f32).sin()
            } else {
                5.0
            };
            let r1 = ((dx - 10.0).powi(2) + dy * dy).sqrt();
            let r2 = ((dx + 15.0).powi(2) + (dy - 8.0).powi(2)).sqrt();
            ov[y * w + x] = if r1 < 9.0 {
                1
            } else if r2 < 6.0 {
                2
            } else if r1 < 14.0 {
                3
            } else {
                0
            };
        }
    }
    let img = image_overlay_png("Slice 42 (axial), prediction", w, h, &px, Some(&ov))?;
    write_png(&out.join("overlay.png"), &img)?;

    let many_curves: Vec<Curve> = (0..12)
        .map(|i| {
            Curve::from_values(
                format!("fold {i} with a rather long legend label"),
                (0..60).map(|e| ((e * (i + 1)) as f64).sqrt()).collect(),
            )
        })
        .collect();
    write_png(
        &out.join("line_many.png"),
        &line_plot_png("12 curves", "epoch", "value", &many_curves, (800, 420))?,
    )?;
    let subjects: Vec<Bar> = (0..120)
        .map(|i| Bar::new(format!("sub-{i:03}"), (i % 7) as f64 / 7.0))
        .collect();
    write_png(
        &out.join("bars120.png"),
        &bar_chart_png("per subject", "acc", &subjects, None, (800, 400))?,
    )?;
    let neg = vec![
        Bar::new("neg", -0.3),
        Bar::new("missing", f64::NAN),
        Bar::with_err("pos", 0.4, 0.1),
    ];
    write_png(
        &out.join("bars_neg.png"),
        &bar_chart_png(
            "Δ accuracy vs baseline",
            "Δ accuracy",
            &neg,
            Some((0.0, "baseline")),
            (500, 360),
        )?,
    )?;
    write_png(
        &out.join("tiny_line.png"),
        &line_plot_png(
            "A title far too long for such a tiny image to hold",
            "epoch",
            "loss",
            &[Curve::new("a", vec![1.0], vec![2.0])],
            (160, 160),
        )?,
    )?;

    let mut r = Report::new("ShallowFBCSPNet on BCI IV 2a <script>alert(1)</script>");
    r.subtitle("within-subject · 5-fold CV · neurodl 0.1.0");
    r.key_values(&[
        ("dataset".into(), "BNCI2014_001".into()),
        ("subjects".into(), "9".into()),
    ]);
    r.section("Learning curves")
        .image_png("Validation loss per fold", &line);
    r.section("Results")
        .table(
            "Accuracy per model",
            &["model".into(), "accuracy".into(), "kappa".into()],
            &[
                vec!["ShallowFBCSPNet".into(), "0.734 ± 0.052".into(), "0.65".into()],
                vec!["EEGNet".into(), "72.2%".into()],
            ],
        )
        .image_png("Accuracy per model", &bar)
        .image_png("Confusion matrix", &cm);
    r.section("Configuration")
        .preformatted("resolved config", "[model]\nname = \"shallow\"\n")
        .paragraph("Line one.\nLine two & <b>not bold</b>.");
    r.write(&out.join("report.html"))?;
    println!("wrote samples to {}", out.display());
    Ok(())
}
