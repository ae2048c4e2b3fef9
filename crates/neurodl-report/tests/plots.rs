//! The four plot functions: PNG validity and size, pixels that must be there, and every
//! documented error instead of a panic.

mod common;

use common::{BLUE, GREEN, VERMILLION, count_ink, count_near, decode};
use neurodl_report::{
    Bar, Curve, ReportError, bar_chart_png, confusion_matrix_png, image_overlay_png, line_plot_png,
};

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

// ---- line plots ----

#[test]
fn line_plot_is_a_png_of_the_requested_size_with_every_curve_drawn() {
    let curves = vec![
        Curve::from_values("train", vec![1.0, 0.8, 0.6, 0.5, 0.45]),
        Curve::from_values("valid", vec![1.1, 0.9, 0.8, 0.78, 0.77]),
    ];
    let png = line_plot_png("Loss", "epoch", "loss", &curves, (800, 500)).expect("renders");
    let (w, h, px) = decode(&png);
    assert_eq!((w, h), (800, 500));
    // Lines plus markers of each colour; a blank or single-colour plot fails here.
    assert!(
        count_near(&px, BLUE, 12) > 300,
        "first curve: {}",
        count_near(&px, BLUE, 12)
    );
    assert!(
        count_near(&px, VERMILLION, 12) > 300,
        "second curve: {}",
        count_near(&px, VERMILLION, 12)
    );
    assert!(
        count_near(&px, GREEN, 12) == 0,
        "no third colour without a third curve"
    );
}

#[test]
fn line_plot_skips_nan_and_infinite_points() {
    let y = vec![1.0, f64::NAN, 0.8, f64::INFINITY, 0.6, f64::NEG_INFINITY, 0.5];
    let x = vec![1.0, 2.0, f64::NAN, 4.0, 5.0, 6.0, 7.0];
    let png = line_plot_png("gaps", "x", "y", &[Curve::new("c", x, y)], (500, 300)).expect("renders");
    let (_, _, px) = decode(&png);
    assert!(count_near(&px, BLUE, 12) > 50);
}

#[test]
fn a_one_point_curve_is_drawn_as_a_marker() {
    let png = line_plot_png(
        "",
        "",
        "",
        &[Curve::new("only", vec![3.0], vec![0.7])],
        (400, 300),
    )
    .expect("renders");
    let (_, _, px) = decode(&png);
    let marker = count_near(&px, BLUE, 12);
    assert!(
        (10..2000).contains(&marker),
        "a marker, not a line: {marker} pixels"
    );
}

#[test]
fn line_plot_of_a_constant_series_still_has_an_axis() {
    let png = line_plot_png(
        "flat",
        "epoch",
        "acc",
        &[Curve::from_values("a", vec![0.5; 10])],
        (500, 300),
    )
    .expect("renders");
    assert!(count_ink(&decode(&png).2) > 1000);
}

#[test]
fn many_curves_with_long_labels_render() {
    let curves: Vec<Curve> = (0..20)
        .map(|i| {
            Curve::from_values(
                format!("fold {i} with a label much longer than the legend could ever hold <script>"),
                (0..50).map(|e| f64::from(e * (i + 1)).sqrt()).collect(),
            )
        })
        .collect();
    let png = line_plot_png("20 curves", "epoch", "value", &curves, (640, 400)).expect("renders");
    assert_eq!(decode(&png).0, 640);
}

#[test]
fn line_plot_errors() {
    let ok = vec![Curve::from_values("a", vec![1.0, 2.0])];
    assert!(matches!(
        line_plot_png("", "", "", &[], (400, 300)),
        Err(ReportError::EmptyInput { .. })
    ));
    let nan = Curve::from_values("a", vec![f64::NAN, f64::INFINITY]);
    assert!(matches!(
        line_plot_png("", "", "", &[nan], (400, 300)),
        Err(ReportError::EmptyInput { .. })
    ));
    let ragged = Curve::new("r", vec![1.0, 2.0, 3.0], vec![1.0]);
    let err = line_plot_png("", "", "", &[ragged], (400, 300)).expect_err("lengths differ");
    assert!(matches!(err, ReportError::InvalidInput { .. }));
    assert!(err.to_string().contains("3 x values but 1 y values"), "{err}");
    let huge = Curve::new("h", vec![1.0, 2.0], vec![-f64::MAX, f64::MAX]);
    assert!(matches!(
        line_plot_png("", "", "", &[huge], (400, 300)),
        Err(ReportError::InvalidInput { .. })
    ));
    for size in [(0, 300), (400, 0), (100, 100), (9000, 300)] {
        assert!(
            matches!(
                line_plot_png("", "", "", &ok, size),
                Err(ReportError::InvalidSize { .. })
            ),
            "{size:?}"
        );
    }
}

// ---- bar charts ----

#[test]
fn bar_chart_draws_bars_and_the_reference_line() {
    let bars = vec![
        Bar::with_err("a", 0.7, 0.05),
        Bar::with_err("b", 0.6, 0.1),
        Bar::new("c", 0.8),
    ];
    let png =
        bar_chart_png("Accuracy", "accuracy", &bars, Some((0.25, "chance")), (700, 450)).expect("renders");
    let (w, h, px) = decode(&png);
    assert_eq!((w, h), (700, 450));
    assert!(
        count_near(&px, BLUE, 6) > 20_000,
        "bars: {}",
        count_near(&px, BLUE, 6)
    );
    assert!(
        count_near(&px, VERMILLION, 12) > 200,
        "reference line: {}",
        count_near(&px, VERMILLION, 12)
    );
    let without = bar_chart_png("Accuracy", "accuracy", &bars, None, (700, 450)).expect("renders");
    assert_eq!(count_near(&decode(&without).2, VERMILLION, 12), 0);
}

#[test]
fn taller_bars_cover_more_pixels() {
    let blue = |v: f64| {
        let bars = vec![Bar::new("x", v), Bar::new("y", 1.0)];
        count_near(
            &decode(&bar_chart_png("", "", &bars, None, (400, 300)).expect("renders")).2,
            BLUE,
            6,
        )
    };
    assert!(blue(0.2) < blue(0.8));
}

#[test]
fn bar_chart_accepts_negative_and_missing_values() {
    let bars = vec![
        Bar::new("neg", -0.3),
        Bar::new("missing", f64::NAN),
        Bar::with_err("nan err", 0.4, f64::NAN),
        Bar::new("many labels that are long enough to turn vertical", 0.2),
    ];
    let png = bar_chart_png("", "delta", &bars, Some((0.0, "")), (500, 400)).expect("renders");
    assert!(count_near(&decode(&png).2, BLUE, 6) > 1000);
    let subjects: Vec<Bar> = (0..120)
        .map(|i| Bar::new(format!("sub-{i:03}"), f64::from(i % 7) / 7.0))
        .collect();
    assert!(bar_chart_png("per subject", "acc", &subjects, None, (800, 400)).is_ok());
}

#[test]
fn bar_chart_errors() {
    assert!(matches!(
        bar_chart_png("", "", &[], None, (400, 300)),
        Err(ReportError::EmptyInput { .. })
    ));
    let nan = vec![Bar::new("a", f64::NAN)];
    assert!(matches!(
        bar_chart_png("", "", &nan, None, (400, 300)),
        Err(ReportError::EmptyInput { .. })
    ));
    let neg = vec![Bar::with_err("a", 0.5, -0.1)];
    assert!(matches!(
        bar_chart_png("", "", &neg, None, (400, 300)),
        Err(ReportError::InvalidInput { .. })
    ));
    let ok = vec![Bar::new("a", 0.5)];
    let r = bar_chart_png("", "", &ok, Some((f64::NAN, "chance")), (400, 300));
    assert!(matches!(r, Err(ReportError::InvalidInput { .. })));
    assert!(matches!(
        bar_chart_png("", "", &ok, None, (50, 300)),
        Err(ReportError::InvalidSize { .. })
    ));
    // More bars than pixels to put them in.
    let crowd: Vec<Bar> = (0..2000).map(|i| Bar::new(i.to_string(), 1.0)).collect();
    assert!(matches!(
        bar_chart_png("", "", &crowd, None, (400, 300)),
        Err(ReportError::TooCrowded { .. })
    ));
}

// ---- confusion matrices ----

#[test]
fn confusion_matrix_is_a_png_of_the_requested_size() {
    let l = labels(&["left", "right", "feet", "tongue"]);
    let counts = vec![
        vec![10, 1, 0, 0],
        vec![2, 9, 0, 0],
        vec![0, 0, 8, 3],
        vec![0, 1, 2, 9],
    ];
    let png = confusion_matrix_png("CM", &l, &counts, (600, 520)).expect("renders");
    let (w, h, px) = decode(&png);
    assert_eq!((w, h), (600, 520));
    // The darkest blue of the scale: diagonal cells (and the top of the colour bar).
    assert!(count_near(&px, (0x08, 0x30, 0x6B), 40) > 2000);
}

#[test]
fn confusion_matrix_handles_one_class_many_classes_and_markup_in_labels() {
    assert!(confusion_matrix_png("", &labels(&["<script>x</script>"]), &[vec![5]], (300, 300)).is_ok());
    let n = 30;
    let l: Vec<String> = (0..n).map(|i| format!("class number {i}")).collect();
    let counts: Vec<Vec<u64>> = (0..n)
        .map(|i| (0..n).map(|j| u64::from(i == j) * 9 + 1).collect())
        .collect();
    assert!(confusion_matrix_png("30 classes", &l, &counts, (900, 900)).is_ok());
    let big = vec![vec![u64::MAX, u64::MAX], vec![0, 1]];
    assert!(confusion_matrix_png("", &labels(&["a", "b"]), &big, (400, 400)).is_ok());
}

#[test]
fn confusion_matrix_errors() {
    let l = labels(&["a", "b"]);
    assert!(matches!(
        confusion_matrix_png("", &[], &[], (400, 400)),
        Err(ReportError::EmptyInput { .. })
    ));
    let rows = vec![vec![1, 2]];
    assert!(matches!(
        confusion_matrix_png("", &l, &rows, (400, 400)),
        Err(ReportError::InvalidInput { .. })
    ));
    let ragged = vec![vec![1, 2], vec![3]];
    let err = confusion_matrix_png("", &l, &ragged, (400, 400)).expect_err("ragged");
    assert!(err.to_string().contains("row 2"), "{err}");
    let many: Vec<String> = (0..500).map(|i| i.to_string()).collect();
    let counts = vec![vec![0u64; 500]; 500];
    let err = confusion_matrix_png("", &many, &counts, (400, 400)).expect_err("500 classes in 400 px");
    assert!(matches!(err, ReportError::TooCrowded { .. }));
    assert!(err.to_string().contains("500 classes"), "{err}");
}

// ---- image overlays ----

#[test]
fn image_overlay_shows_the_image_and_the_labels() {
    let (w, h) = (32, 24);
    let pixels: Vec<f32> = (0..w * h).map(|i| (i % w) as f32).collect();
    let mut overlay = vec![0u8; w * h];
    for y in 8..16 {
        for x in 4..12 {
            overlay[y * w + x] = 1;
        }
    }
    let png = image_overlay_png("slice", w, h, &pixels, Some(&overlay)).expect("renders");
    let (ow, oh, px) = decode(&png);
    assert!(
        ow as usize >= w * 12 && oh as usize >= h * 12,
        "enlarged 12x: {ow}x{oh}"
    );
    // Class 1 is orange (#E69F00) at 50% over grey; the legend swatch is pure orange.
    assert!(count_near(&px, (0xE6, 0x9F, 0x00), 3) > 50, "legend swatch");
    let blended = px
        .chunks(3)
        .filter(|p| {
            let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
            r > b + 40 && g > b + 20 && r < 0xE0
        })
        .count();
    assert!(blended > 8 * 8 * 100, "blended overlay region: {blended}");
    // A grey ramp: both near-black and near-white pixels exist.
    assert!(px.chunks(3).any(|p| p == [0, 0, 0]) && px.chunks(3).any(|p| p[0] > 250 && p[0] == p[2]));
}

#[test]
fn named_overlay_legends_make_room_for_the_names() {
    let (w, h) = (32, 24);
    let pixels: Vec<f32> = (0..w * h).map(|i| (i % w) as f32).collect();
    let mut overlay = vec![0u8; w * h];
    overlay[5 * w + 5] = 1;
    overlay[9 * w + 9] = 2;
    let ids = image_overlay_png("slice", w, h, &pixels, Some(&overlay)).expect("renders");
    let names = [(1u8, "anterior hippocampus"), (2, "posterior hippocampus")];
    let named =
        neurodl_report::image_overlay_named_png("slice", w, h, &pixels, &overlay, &names).expect("renders");
    let (ids_w, _, _) = decode(&ids);
    let (named_w, _, px) = decode(&named);
    assert!(
        named_w > ids_w,
        "a legend of names is wider: {named_w} vs {ids_w}"
    );
    // Both swatches are drawn (class 2 is sky blue, #56B4E9).
    assert!(count_near(&px, (0x56, 0xB4, 0xE9), 3) > 50, "class 2 swatch");
    // An id without a name keeps its numbered entry.
    let partly = neurodl_report::image_overlay_named_png("slice", w, h, &pixels, &overlay, &names[..1])
        .expect("renders");
    assert!(decode(&partly).0 >= ids_w);
}

#[test]
fn image_without_overlay_is_grey() {
    let pixels: Vec<f32> = (0..64 * 64).map(|i| (i as f32).sin()).collect();
    let png = image_overlay_png("", 64, 64, &pixels, None).expect("renders");
    let (_, _, px) = decode(&png);
    assert!(
        px.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]),
        "only grey levels (and white margins)"
    );
}

#[test]
fn image_overlay_errors() {
    let px = vec![0f32; 12];
    assert!(matches!(
        image_overlay_png("", 0, 5, &[], None),
        Err(ReportError::EmptyInput { .. })
    ));
    assert!(matches!(
        image_overlay_png("", 4, 4, &px, None),
        Err(ReportError::InvalidInput { .. })
    ));
    let ov = vec![0u8; 11];
    assert!(matches!(
        image_overlay_png("", 4, 3, &px, Some(&ov)),
        Err(ReportError::InvalidInput { .. })
    ));
    assert!(matches!(
        image_overlay_png("", 4, 3, &[f32::NAN; 12], None),
        Err(ReportError::EmptyInput { .. })
    ));
    let wide = vec![0f32; 10_000];
    assert!(matches!(
        image_overlay_png("", 10_000, 1, &wide, None),
        Err(ReportError::InvalidSize { .. })
    ));
}
