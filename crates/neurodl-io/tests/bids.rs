//! BIDS discovery and metadata on a synthetic dataset built in a temporary folder
//! (entities, sidecar inheritance, channels/events/participants TSVs, derivatives
//! skipped, bad TSVs named), plus the real `BIDS_test` dataset when present.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use ndarray::Array2;
use neurodl_io::bids::{BidsDataset, BidsEntities};
use neurodl_io::edf::{EdfVariant, write_edf};
use neurodl_io::testdata::shared_data_dir;
use neurodl_io::{Annotation, ChannelInfo, ChannelType, Format, Recording, RecordingInfo, SubjectInfo};

fn write_recording(path: &Path) {
    let channels = ["Fz", "Cz", "VEOG"]
        .iter()
        .map(|n| ChannelInfo {
            name: (*n).into(),
            kind: ChannelType::Eeg,
            unit: "V".into(),
            sfreq: 100.0,
            position: None,
        })
        .collect();
    let info = RecordingInfo {
        format: Format::EdfPlus,
        path: path.into(),
        channels,
        sfreq: 100.0,
        n_samples: 300,
        meas_date: NaiveDate::from_ymd_opt(2025, 5, 1).unwrap().and_hms_opt(10, 0, 0),
        subject: SubjectInfo::default(),
        session: None,
        annotations: vec![Annotation {
            onset: 0.5,
            duration: 0.0,
            description: "in-file".into(),
        }],
        extra: BTreeMap::new(),
        warnings: Vec::new(),
    };
    let data = Array2::from_shape_fn((3, 300), |(c, j)| {
        (c as f64 + 1.0) * 1e-6 * (j as f64 * 0.1).sin()
    });
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_edf(path, &Recording { info, data }, EdfVariant::EdfPlus).unwrap();
}

fn build_dataset(root: &Path) {
    std::fs::write(
        root.join("dataset_description.json"),
        r#"{"Name": "tiny", "BIDSVersion": "1.8.0"}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("participants.tsv"),
        "participant_id\tsex\tage\nsub-01\tF\t31\nsub-02\tM\tn/a\n",
    )
    .unwrap();
    // Inherited by every recording of the task; the recording's own sidecar overrides a key.
    std::fs::write(
        root.join("task-rest_eeg.json"),
        r#"{"TaskName": "rest", "PowerLineFrequency": 50, "EEGReference": "Cz"}"#,
    )
    .unwrap();
    for (sub, ses, run) in [("01", "a", "1"), ("01", "b", "1"), ("02", "a", "2")] {
        let dir = root.join(format!("sub-{sub}/ses-{ses}/eeg"));
        let stem = format!("sub-{sub}_ses-{ses}_task-rest_run-{run}");
        write_recording(&dir.join(format!("{stem}_eeg.edf")));
        std::fs::write(
            dir.join(format!("{stem}_eeg.json")),
            r#"{"SamplingFrequency": 100, "EEGReference": "avg"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{stem}_channels.tsv")),
            "name\ttype\tunits\nFz\tEEG\tuV\nCz\tEEG\tuV\nVEOG\tVEOG\tuV\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{stem}_events.tsv")),
            "onset\tduration\ttrial_type\n0.2\t0.1\tleft\n1.7\tn/a\tright\n",
        )
        .unwrap();
    }
    // Derivatives look like recordings but are not raw data.
    write_recording(&root.join("derivatives/clean/sub-01/ses-a/eeg/sub-01_ses-a_task-rest_run-1_eeg.edf"));
}

#[test]
fn discovers_recordings_and_applies_their_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    build_dataset(tmp.path());
    let ds = BidsDataset::open(tmp.path()).unwrap();
    assert_eq!(ds.name(), Some("tiny"));
    assert_eq!(ds.recordings().len(), 3, "derivatives must be skipped");
    assert_eq!(ds.subjects(), ["01", "02"]);
    assert_eq!(ds.select(Some("01"), None, None, None).len(), 2);
    assert_eq!(ds.select(None, Some("a"), Some("rest"), Some("2")).len(), 1);

    let rec = &ds.recordings()[0];
    assert_eq!(rec.entities.to_string(), "sub-01 ses-a task-rest run-1");
    // Inheritance: root keys arrive, the recording's own value wins.
    assert_eq!(rec.sidecar["PowerLineFrequency"], 50);
    assert_eq!(rec.sidecar["EEGReference"], "avg");

    let reader = rec.open().unwrap();
    let info = reader.info();
    assert_eq!(info.subject.id.as_deref(), Some("01"));
    assert_eq!(info.session.as_deref(), Some("a"));
    assert_eq!(info.subject.sex.as_deref(), Some("F"));
    assert_eq!(info.subject.extra["age"], "31");
    assert_eq!(info.channels[2].kind, ChannelType::Eog, "channels.tsv VEOG → eog");
    assert_eq!(info.extra["bids.TaskName"], "rest");
    // events.tsv replaces the file's own annotations.
    let anns: Vec<(&str, f64, f64)> = info
        .annotations
        .iter()
        .map(|a| (a.description.as_str(), a.onset, a.duration))
        .collect();
    assert_eq!(anns, [("left", 0.2, 0.1), ("right", 1.7, 0.0)]);
    assert!(info.warnings.is_empty(), "{:?}", info.warnings);

    // Participant `n/a` values are left out rather than stored as text.
    let info2 = ds.recordings()[2].open().unwrap().info().clone();
    assert!(!info2.subject.extra.contains_key("age"));
}

#[test]
fn disagreements_are_warned_about_not_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    build_dataset(tmp.path());
    let eeg = tmp.path().join("sub-02/ses-a/eeg");
    std::fs::write(
        eeg.join("sub-02_ses-a_task-rest_run-2_eeg.json"),
        r#"{"SamplingFrequency": 250}"#,
    )
    .unwrap();
    std::fs::write(
        eeg.join("sub-02_ses-a_task-rest_run-2_channels.tsv"),
        "name\ttype\nFz\tEEG\nPz\tEEG\n",
    )
    .unwrap();
    let ds = BidsDataset::open(tmp.path()).unwrap();
    let info = ds.recordings()[2].open().unwrap().info().clone();
    assert!(
        info.warnings
            .iter()
            .any(|w| w.contains("SamplingFrequency is 250")),
        "{:?}",
        info.warnings
    );
    assert!(
        info.warnings.iter().any(|w| w.contains("1 names match")),
        "{:?}",
        info.warnings
    );
    assert_eq!(info.sfreq, 100.0, "the data file wins");
}

#[test]
fn bad_metadata_names_the_file_and_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(
        BidsDataset::open(tmp.path())
            .unwrap_err()
            .to_string()
            .contains("dataset_description.json")
    );
    build_dataset(tmp.path());
    let events = tmp
        .path()
        .join("sub-01/ses-a/eeg/sub-01_ses-a_task-rest_run-1_events.tsv");
    std::fs::write(&events, "onset\tduration\ttrial_type\nsoon\t0\tleft\n").unwrap();
    let ds = BidsDataset::open(tmp.path()).unwrap();
    let err = ds.recordings()[0].open().err().unwrap().to_string();
    assert!(
        err.contains("events.tsv") && err.contains("row 2") && err.contains("soon"),
        "{err}"
    );
    std::fs::write(&events, "start\tduration\nx\t0\n").unwrap();
    let err = ds.recordings()[0].open().err().unwrap().to_string();
    assert!(err.contains("`onset` is missing"), "{err}");
    std::fs::write(tmp.path().join("task-rest_eeg.json"), "{ not json").unwrap();
    let err = BidsDataset::open(tmp.path()).unwrap_err().to_string();
    assert!(
        err.contains("task-rest_eeg.json") && err.contains("line 1"),
        "{err}"
    );
}

#[test]
fn entities_parse_and_inherit() {
    let (e, suffix) =
        BidsEntities::parse_file_name("sub-07_ses-2_task-mi_acq-hd_run-03_desc-x_eeg.vhdr").unwrap();
    assert_eq!(suffix, "eeg");
    assert_eq!((e.subject.as_str(), e.run.as_deref()), ("07", Some("03")));
    assert_eq!(e.other["desc"], "x");
    let (general, _) = BidsEntities::parse_file_name("task-mi_eeg.json").unwrap();
    assert!(general.applies_to(&e));
    let (other_task, _) = BidsEntities::parse_file_name("task-rest_eeg.json").unwrap();
    assert!(!other_task.applies_to(&e));
    assert!(
        BidsEntities::parse_file_name("sub-01_bad-_eeg.edf").is_none(),
        "empty entity value"
    );
}

#[test]
fn real_bids_test_dataset() {
    let Some(data) = shared_data_dir() else { return };
    let root = data.join("eeg/eeglab/test_data/BIDS_test");
    let ds = BidsDataset::open(&root).unwrap();
    assert_eq!(ds.recordings().len(), 1);
    let info = ds.recordings()[0].open().unwrap().info().clone();
    assert_eq!(info.subject.id.as_deref(), Some("S1"));
    assert_eq!(info.subject.extra["Gender"], "M");
    // Its sidecar claims 32 Hz and its channels.tsv another montage: both reported.
    assert_eq!(info.sfreq, 256.0);
    assert_eq!(info.warnings.len(), 2, "{:?}", info.warnings);
}
