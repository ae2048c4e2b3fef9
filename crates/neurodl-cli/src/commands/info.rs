//! `neurodl info`: a readable or JSON summary of a recording or a BIDS dataset.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Result;
use neurodl_io::bids::BidsDataset;
use neurodl_io::{ChannelType, RecordingInfo, open_recording};
use serde::Serialize;

/// The JSON shape of one recording's summary (stable keys for scripts).
#[derive(Serialize)]
struct RecordingSummary<'a> {
    format: String,
    path: String,
    n_channels: usize,
    channels: Vec<ChannelSummary<'a>>,
    sfreq: f64,
    n_samples: usize,
    duration_s: f64,
    meas_date: Option<String>,
    subject: &'a neurodl_io::SubjectInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
    annotation_counts: BTreeMap<&'a str, usize>,
    annotations: &'a [neurodl_io::Annotation],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

#[derive(Serialize)]
struct ChannelSummary<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: ChannelType,
    unit: &'a str,
    sfreq: f64,
}

fn summary(info: &RecordingInfo) -> RecordingSummary<'_> {
    RecordingSummary {
        format: info.format.to_string(),
        path: info.path.display().to_string(),
        n_channels: info.channels.len(),
        channels: info
            .channels
            .iter()
            .map(|c| ChannelSummary {
                name: &c.name,
                kind: c.kind,
                unit: &c.unit,
                sfreq: c.sfreq,
            })
            .collect(),
        sfreq: info.sfreq,
        n_samples: info.n_samples,
        duration_s: info.duration_s(),
        meas_date: info
            .meas_date
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        subject: &info.subject,
        session: info.session.as_deref(),
        annotation_counts: info.annotation_counts(),
        annotations: &info.annotations,
        warnings: &info.warnings,
    }
}

/// Runs `neurodl info PATH [--json]`.
pub fn run(path: &Path, json: bool) -> Result<()> {
    if path.is_dir() {
        return run_bids(path, json);
    }
    if is_volume(path) {
        return run_volume(path, json);
    }
    let reader = open_recording(path)?;
    let info = reader.info();
    if json {
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&summary(info))?
        )?;
    } else {
        write!(std::io::stdout().lock(), "{}", render_text(info))?;
    }
    Ok(())
}

fn run_bids(root: &Path, json: bool) -> Result<()> {
    let dataset = BidsDataset::open(root)?;
    let mut infos = Vec::new();
    for rec in dataset.recordings() {
        infos.push((rec, rec.open()?.info().clone()));
    }
    if json {
        #[derive(Serialize)]
        struct Entry<'a> {
            entities: &'a neurodl_io::bids::BidsEntities,
            #[serde(flatten)]
            summary: RecordingSummary<'a>,
        }
        #[derive(Serialize)]
        struct Dataset<'a> {
            format: &'static str,
            root: String,
            name: Option<&'a str>,
            n_subjects: usize,
            n_recordings: usize,
            recordings: Vec<Entry<'a>>,
        }
        let out = Dataset {
            format: "BIDS",
            root: root.display().to_string(),
            name: dataset.name(),
            n_subjects: dataset.subjects().len(),
            n_recordings: infos.len(),
            recordings: infos
                .iter()
                .map(|(rec, info)| Entry {
                    entities: &rec.entities,
                    summary: summary(info),
                })
                .collect(),
        };
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&out)?
        )?;
    } else {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "BIDS dataset {}{}: {} subject(s), {} EEG recording(s)",
            root.display(),
            dataset.name().map(|n| format!(" ({n})")).unwrap_or_default(),
            dataset.subjects().len(),
            infos.len()
        )?;
        for (rec, info) in &infos {
            writeln!(stdout, "\n== {} ==", rec.entities)?;
            write!(stdout, "{}", render_text(info))?;
        }
    }
    Ok(())
}

/// The human-readable summary.
fn render_text(info: &RecordingInfo) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "{}  ({})", info.path.display(), info.format);
    let _ = writeln!(
        s,
        "  duration     {:.3} s ({} samples at {} Hz)",
        info.duration_s(),
        info.n_samples,
        info.sfreq
    );
    if let Some(d) = info.meas_date {
        let _ = writeln!(s, "  recorded     {}", d.format("%Y-%m-%d %H:%M:%S%.f"));
    }
    if let Some(id) = &info.subject.id {
        let _ = writeln!(s, "  subject      {id}");
    }
    if let Some(ses) = &info.session {
        let _ = writeln!(s, "  session      {ses}");
    }
    let _ = writeln!(s, "  channels     {}", info.channels.len());
    for kind in ChannelType::ALL {
        let chans: Vec<_> = info.channels.iter().filter(|c| c.kind == kind).collect();
        if chans.is_empty() {
            continue;
        }
        let mut rates: Vec<f64> = chans.iter().map(|c| c.sfreq).collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        let rates: Vec<String> = rates.iter().map(|r| format!("{r} Hz")).collect();
        let names: Vec<&str> = chans.iter().map(|c| c.name.as_str()).collect();
        let _ = writeln!(
            s,
            "    {:<5} {:>3}  [{}]  {}",
            kind.as_str().to_uppercase(),
            chans.len(),
            rates.join(", "),
            abbreviate(&names, 12)
        );
    }
    let counts = info.annotation_counts();
    let _ = writeln!(s, "  annotations  {}", info.annotations.len());
    for (desc, n) in counts {
        let _ = writeln!(s, "    {n:>5}  {desc:?}");
    }
    for w in &info.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    s
}

fn abbreviate(names: &[&str], max: usize) -> String {
    if names.len() <= max {
        names.join(" ")
    } else {
        format!(
            "{} ... {} ({} more)",
            names[..max - 2].join(" "),
            names[names.len() - 1],
            names.len() - (max - 1)
        )
    }
}

fn is_volume(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    [".nii", ".nii.gz", ".nrrd", ".nhdr"]
        .iter()
        .any(|e| name.ends_with(e))
}

/// The JSON shape of a volume's summary.
#[derive(Serialize)]
struct VolumeSummary {
    path: String,
    shape: [usize; 4],
    dtype: neurodl_io::VoxelType,
    spacing_mm: [f64; 3],
    axis_codes: String,
    affine: [[f64; 4]; 4],
    #[serde(skip_serializing_if = "Option::is_none")]
    scaling: Option<neurodl_io::IntensityScaling>,
    description: String,
    header: BTreeMap<String, String>,
}

fn run_volume(path: &Path, json: bool) -> Result<()> {
    let v = neurodl_io::open_volume(path)?;
    let summary = VolumeSummary {
        path: path.display().to_string(),
        shape: v.shape(),
        dtype: v.data.voxel_type(),
        spacing_mm: v.spacing(),
        axis_codes: v.affine.axis_codes(),
        affine: v.affine.matrix,
        scaling: v.scaling,
        description: v.meta.description.clone(),
        header: v.meta.extras.clone(),
    };
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
        return Ok(());
    }
    let [c, x, y, z] = summary.shape;
    writeln!(out, "{}", summary.path)?;
    writeln!(
        out,
        "  shape        {x} x {y} x {z}{}",
        if c > 1 {
            format!(" x {c} channels")
        } else {
            String::new()
        }
    )?;
    writeln!(out, "  type         {:?}", summary.dtype)?;
    let [sx, sy, sz] = summary.spacing_mm;
    writeln!(out, "  spacing      {sx:.4} x {sy:.4} x {sz:.4} mm")?;
    writeln!(out, "  orientation  {} (voxel axes towards)", summary.axis_codes)?;
    for (i, row) in summary.affine.iter().take(3).enumerate() {
        let label = if i == 0 { "affine" } else { "" };
        writeln!(
            out,
            "  {label:<12} [{:>10.4} {:>10.4} {:>10.4} {:>10.4}]",
            row[0], row[1], row[2], row[3]
        )?;
    }
    if let Some(sc) = summary.scaling {
        writeln!(
            out,
            "  scaling      value = stored x {} + {}",
            sc.slope, sc.intercept
        )?;
    }
    if !summary.description.is_empty() {
        writeln!(out, "  description  {}", summary.description)?;
    }
    Ok(())
}
