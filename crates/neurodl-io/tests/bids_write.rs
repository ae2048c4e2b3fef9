//! The BIDS writer: what `BidsDataset::open` reads back equals what was written (entities,
//! sidecar, channel types, events, participants, samples within EDF quantisation), the files
//! hold what BIDS 1.9 asks for, and misuse (bad labels, existing folders, duplicates) is refused.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::Array2;
use neurodl_io::bids::{BidsDataset, BidsEntities};
use neurodl_io::bids_write::{BidsWriteOptions, BidsWriter, EegSidecar};
use neurodl_io::edf::EdfVariant;
use neurodl_io::{
    Annotation, ChannelInfo, ChannelType, Error, Format, Recording, RecordingInfo, SubjectInfo,
};

fn recording(seed: f64, annotations: &[(f64, f64, &str)]) -> Recording {
    let specs = [
        ("C3", ChannelType::Eeg, Some([-0.067, 0.0, 0.067])),
        ("Cz", ChannelType::Eeg, Some([0.0, 0.0, 0.095])),
        ("C4", ChannelType::Eeg, Some([0.067, 0.0, 0.067])),
        ("EOG-left", ChannelType::Eog, None),
    ];
    let channels = specs
        .iter()
        .map(|(name, kind, position)| ChannelInfo {
            name: (*name).into(),
            kind: *kind,
            unit: "V".into(),
            sfreq: 200.0,
            position: *position,
        })
        .collect();
    let n = 1000;
    let info = RecordingInfo {
        format: Format::EdfPlus,
        path: "memory".into(),
        channels,
        sfreq: 200.0,
        n_samples: n,
        meas_date: None,
        subject: SubjectInfo {
            sex: Some("F".into()),
            ..SubjectInfo::default()
        },
        session: None,
        annotations: annotations
            .iter()
            .map(|&(onset, duration, d)| Annotation {
                onset,
                duration,
                description: d.into(),
            })
            .collect(),
        extra: BTreeMap::new(),
        warnings: Vec::new(),
    };
    let data = Array2::from_shape_fn((4, n), |(c, j)| {
        20e-6 * ((j as f64 * 0.05 * (c as f64 + 1.0) + seed).sin() + 0.3 * (j as f64 * 0.31).cos())
    });
    Recording { info, data }
}

fn entities(sub: &str, ses: Option<&str>, run: Option<&str>) -> BidsEntities {
    BidsEntities {
        subject: sub.into(),
        session: ses.map(Into::into),
        task: Some("imagery".into()),
        run: run.map(Into::into),
        ..BidsEntities::default()
    }
}

fn sidecar() -> EegSidecar {
    let mut s = EegSidecar::new("Cz", Some(50.0));
    s.extra.insert("Manufacturer".into(), "neurodl tests".into());
    s
}

fn options() -> BidsWriteOptions {
    BidsWriteOptions {
        participant_columns: BTreeMap::from([("group".to_string(), "Which arm of the study".to_string())]),
        readme: Some("A test dataset.".into()),
        ..BidsWriteOptions::new("round trip")
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn written_dataset_reads_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ds");
    let anns_a: &[(f64, f64, &str)] = &[
        (0.5, 1.0, "left_hand"),
        (1.25, 1.0, "right_hand"),
        (3.005, 0.0, "rest"),
    ];
    let anns_b: &[(f64, f64, &str)] = &[(0.1, 0.5, "right_hand")];
    let written = [
        (entities("01", Some("1"), Some("1")), recording(0.0, anns_a)),
        (entities("01", Some("1"), Some("2")), recording(1.0, anns_b)),
        (entities("02", Some("2"), Some("1")), recording(2.0, anns_a)),
    ];
    let writer = BidsWriter::create(&root, options()).unwrap();
    writer
        .set_participant("01", BTreeMap::from([("group".to_string(), "a".to_string())]))
        .unwrap();
    for (e, rec) in &written {
        let out = writer.write_recording(e, rec, &sidecar()).unwrap();
        assert!(out.data_file.exists());
        assert!(out.files.iter().all(|f| f.exists()));
    }
    let summary = writer.finish().unwrap();
    assert_eq!(
        (summary.n_subjects, summary.n_recordings, summary.n_events),
        (2, 3, 7)
    );
    assert!((summary.total_duration_s - 15.0).abs() < 1e-12);

    let ds = BidsDataset::open(&root).unwrap();
    assert_eq!(ds.name(), Some("round trip"));
    assert_eq!(ds.subjects(), ["01", "02"]);
    assert_eq!(ds.recordings().len(), 3);
    for ((e, original), rec) in written.iter().zip(ds.recordings()) {
        assert_eq!(&rec.entities, e);
        assert_eq!(rec.sidecar["SamplingFrequency"], 200.0);
        assert_eq!(rec.sidecar["PowerLineFrequency"], 50.0);
        assert_eq!(rec.sidecar["EEGReference"], "Cz");
        assert_eq!(rec.sidecar["TaskName"], "imagery");
        assert_eq!(rec.sidecar["SoftwareFilters"], "n/a");
        assert_eq!(rec.sidecar["EEGChannelCount"], 3);
        assert_eq!(rec.sidecar["EOGChannelCount"], 1);
        assert_eq!(rec.sidecar["RecordingDuration"], 5.0);
        assert_eq!(rec.sidecar["RecordingType"], "continuous");
        assert_eq!(rec.sidecar["Manufacturer"], "neurodl tests");
        let mut reader = rec.open().unwrap();
        let back = reader.read_all().unwrap();
        let info = &back.info;
        assert!(info.warnings.is_empty(), "{:?}", info.warnings);
        assert_eq!(info.subject.id.as_deref(), Some(e.subject.as_str()));
        assert_eq!(info.session, e.session);
        assert_eq!(info.subject.sex.as_deref(), Some("F"));
        assert_eq!(info.channel_names(), original.info.channel_names());
        let kinds: Vec<ChannelType> = info.channels.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                ChannelType::Eeg,
                ChannelType::Eeg,
                ChannelType::Eeg,
                ChannelType::Eog
            ]
        );
        // Onsets, durations and labels come back exactly (shortest round-trip decimal text).
        assert_eq!(info.annotations, original.info.annotations);
        assert_eq!(info.n_samples, original.info.n_samples);
        assert_eq!(info.sfreq, 200.0);
        assert_eq!(info.extra["bids.EEGReference"], "Cz");
        // 16-bit EDF: each sample within half a digital step of its channel's range.
        for (c, (a, b)) in back.data.rows().into_iter().zip(original.data.rows()).enumerate() {
            let range = b.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v))
                - b.iter().fold(f64::INFINITY, |m, v| m.min(*v));
            let worst = a
                .iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            assert!(
                worst <= range / 65535.0,
                "channel {c}: error {worst} for range {range}"
            );
        }
    }
    let sub1 = &ds.recordings()[0];
    assert_eq!(sub1.participant.get("group").map(String::as_str), Some("a"));
    assert_eq!(
        ds.recordings()[2].participant.get("group").map(String::as_str),
        Some("n/a")
    );
}

#[test]
fn files_hold_what_bids_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ds");
    let writer = BidsWriter::create(
        &root,
        BidsWriteOptions {
            event_values: BTreeMap::from([("left_hand".to_string(), 1), ("right_hand".to_string(), 2)]),
            authors: vec!["A. Author".into()],
            generated_by_description: Some("unit test".into()),
            ..options()
        },
    )
    .unwrap();
    let rec = recording(0.0, &[(0.5, 1.0, "right_hand"), (2.0, 1.0, "left_hand")]);
    writer
        .write_recording(&entities("07", None, None), &rec, &sidecar())
        .unwrap();
    writer.finish().unwrap();

    let eeg = root.join("sub-07/eeg");
    let mut files: Vec<String> = std::fs::read_dir(&eeg)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "sub-07_coordsystem.json",
            "sub-07_electrodes.tsv",
            "sub-07_task-imagery_channels.tsv",
            "sub-07_task-imagery_eeg.edf",
            "sub-07_task-imagery_eeg.json",
            "sub-07_task-imagery_events.tsv",
        ]
    );
    assert_eq!(
        read(&eeg.join("sub-07_task-imagery_events.tsv")),
        "onset\tduration\ttrial_type\tsample\tvalue\n0.5\t1\tright_hand\t100\t2\n2\t1\tleft_hand\t400\t1\n"
    );
    assert_eq!(
        read(&eeg.join("sub-07_task-imagery_channels.tsv")),
        "name\ttype\tunits\tsampling_frequency\tstatus\nC3\tEEG\tµV\t200\tgood\nCz\tEEG\tµV\t200\tgood\n\
         C4\tEEG\tµV\t200\tgood\nEOG-left\tEOG\tµV\t200\tgood\n"
    );
    assert_eq!(
        read(&eeg.join("sub-07_electrodes.tsv")),
        "name\tx\ty\tz\nC3\t-0.067\t0\t0.067\nCz\t0\t0\t0.095\nC4\t0.067\t0\t0.067\n"
    );
    let coords: serde_json::Value =
        serde_json::from_str(&read(&eeg.join("sub-07_coordsystem.json"))).unwrap();
    assert_eq!(coords["EEGCoordinateSystem"], "Other");
    assert_eq!(coords["EEGCoordinateUnits"], "m");

    let desc: serde_json::Value =
        serde_json::from_str(&read(&root.join("dataset_description.json"))).unwrap();
    assert_eq!(desc["Name"], "round trip");
    assert_eq!(desc["BIDSVersion"], "1.9.0");
    assert_eq!(desc["DatasetType"], "raw");
    assert_eq!(desc["GeneratedBy"][0]["Name"], "neurodl");
    assert_eq!(desc["GeneratedBy"][0]["Description"], "unit test");
    assert_eq!(desc["Authors"][0], "A. Author");
    assert_eq!(
        read(&root.join("participants.tsv")),
        "participant_id\tsex\nsub-07\tF\n"
    );
    let pj: serde_json::Value = serde_json::from_str(&read(&root.join("participants.json"))).unwrap();
    assert!(pj["participant_id"]["Description"].is_string() && pj["sex"]["Description"].is_string());
    let ev: serde_json::Value = serde_json::from_str(&read(&root.join("task-imagery_events.json"))).unwrap();
    assert_eq!(ev["value"]["Levels"]["2"], "right_hand");
    assert_eq!(ev["onset"]["Units"], "s");
    assert_eq!(read(&root.join("README")), "A test dataset.\n");
    // No temporary files left behind.
    let leftovers: Vec<_> = walk(&root)
        .into_iter()
        .filter(|p| p.contains(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn automatic_event_values_follow_mne_numbering_and_bdf_is_an_option() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ds");
    let writer = BidsWriter::create(
        &root,
        BidsWriteOptions {
            format: EdfVariant::BdfPlus,
            ..options()
        },
    )
    .unwrap();
    let rec = recording(
        0.0,
        &[(0.5, 1.0, "zeta"), (1.0, 0.0, "alpha\tbeta"), (2.0, 1.0, "zeta")],
    );
    let out = writer
        .write_recording(&entities("01", None, Some("3")), &rec, &sidecar())
        .unwrap();
    assert_eq!(
        out.data_file.file_name().unwrap(),
        "sub-01_task-imagery_run-3_eeg.bdf"
    );
    writer.finish().unwrap();
    let events = read(&root.join("sub-01/eeg/sub-01_task-imagery_run-3_events.tsv"));
    // Sorted distinct labels numbered from 1; a tab inside a label becomes a space.
    assert_eq!(
        events,
        "onset\tduration\ttrial_type\tsample\tvalue\n0.5\t1\tzeta\t100\t2\n1\t0\talpha beta\t200\t1\n2\t1\tzeta\t400\t2\n"
    );
    let ds = BidsDataset::open(&root).unwrap();
    let back = ds.recordings()[0].open().unwrap().read_all().unwrap();
    assert_eq!(back.info.format, Format::BdfPlus);
    assert_eq!(back.info.annotations[1].description, "alpha beta");
}

#[test]
fn existing_folders_are_protected() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ds");
    // A non-empty folder that is not a dataset: refused, even with overwrite.
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("thesis.tex"), "precious").unwrap();
    let err = BidsWriter::create(&root, options()).err().unwrap();
    assert!(err.to_string().contains("not empty"), "{err}");
    let err = BidsWriter::create(
        &root,
        BidsWriteOptions {
            overwrite: true,
            ..options()
        },
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("not a BIDS dataset"), "{err}");
    assert_eq!(read(&root.join("thesis.tex")), "precious");
    std::fs::remove_file(root.join("thesis.tex")).unwrap();

    // Write a dataset with two subjects, then overwrite it with one: the stale subject goes,
    // derivatives stay.
    let writer = BidsWriter::create(&root, options()).unwrap();
    for sub in ["01", "02"] {
        writer
            .write_recording(&entities(sub, None, None), &recording(0.0, &[]), &sidecar())
            .unwrap();
    }
    writer.finish().unwrap();
    std::fs::create_dir_all(root.join("derivatives/clean")).unwrap();
    std::fs::write(root.join("derivatives/clean/keep.txt"), "x").unwrap();
    assert!(
        BidsWriter::create(&root, options()).is_err(),
        "no silent overwrite"
    );
    let writer = BidsWriter::create(
        &root,
        BidsWriteOptions {
            overwrite: true,
            ..options()
        },
    )
    .unwrap();
    writer
        .write_recording(
            &entities("03", None, None),
            &recording(0.0, &[(1.0, 1.0, "x")]),
            &sidecar(),
        )
        .unwrap();
    writer.finish().unwrap();
    let ds = BidsDataset::open(&root).unwrap();
    assert_eq!(ds.subjects(), ["03"]);
    assert_eq!(
        read(&root.join("participants.tsv")),
        "participant_id\tsex\nsub-03\tF\n"
    );
    assert!(root.join("derivatives/clean/keep.txt").exists());
    // A path that is a file is refused.
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    assert!(BidsWriter::create(&file, options()).is_err());
}

#[test]
fn unfinished_dataset_is_not_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ds");
    let writer = BidsWriter::create(&root, options()).unwrap();
    writer
        .write_recording(&entities("01", None, None), &recording(0.0, &[]), &sidecar())
        .unwrap();
    drop(writer);
    assert!(root.join("sub-01/eeg/sub-01_task-imagery_eeg.edf").exists());
    assert!(
        BidsDataset::open(&root).is_err(),
        "no dataset_description.json until finish"
    );
}

#[test]
fn misuse_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let writer = BidsWriter::create(
        &dir.path().join("ds"),
        BidsWriteOptions {
            event_values: BTreeMap::from([("left_hand".to_string(), 1)]),
            ..options()
        },
    )
    .unwrap();
    let rec = recording(0.0, &[(0.5, 1.0, "left_hand")]);
    let refused = |e: BidsEntities, rec: &Recording, sc: &EegSidecar, needle: &str| match writer
        .write_recording(&e, rec, sc)
    {
        Err(Error::InvalidRequest(msg)) => assert!(msg.contains(needle), "{msg} lacks {needle:?}"),
        other => panic!("{e}: expected a refusal, got {other:?}"),
    };
    refused(entities("0_1", None, None), &rec, &sidecar(), "subject label");
    refused(
        entities("01", Some("a-b"), None),
        &rec,
        &sidecar(),
        "session label",
    );
    refused(entities("01", None, Some("1a")), &rec, &sidecar(), "run label");
    refused(
        BidsEntities {
            task: None,
            ..entities("01", None, None)
        },
        &rec,
        &sidecar(),
        "needs a task",
    );
    refused(
        BidsEntities {
            other: BTreeMap::from([("desc".to_string(), "x".to_string())]),
            ..entities("01", None, None)
        },
        &rec,
        &sidecar(),
        "entity `desc`",
    );
    let mut bad_sidecar = sidecar();
    bad_sidecar.extra.insert("SamplingFrequency".into(), 100.into());
    refused(
        entities("01", None, None),
        &rec,
        &bad_sidecar,
        "computed by the writer",
    );
    let unmapped = recording(0.0, &[(0.5, 1.0, "right_hand")]);
    refused(
        entities("01", None, None),
        &unmapped,
        &sidecar(),
        "no event value",
    );
    writer
        .write_recording(&entities("01", None, None), &rec, &sidecar())
        .unwrap();
    refused(entities("01", None, None), &rec, &sidecar(), "already written");
    // Same session, different electrode positions: ambiguous electrodes.tsv.
    let mut moved = recording(0.0, &[(0.5, 1.0, "left_hand")]);
    moved.info.channels[0].position = Some([-0.06, 0.01, 0.07]);
    refused(
        entities("01", None, Some("2")),
        &moved,
        &sidecar(),
        "different electrode positions",
    );
    assert!(
        !dir.path()
            .join("ds/sub-01/eeg/sub-01_task-imagery_run-2_eeg.edf")
            .exists(),
        "a refused recording leaves no file"
    );
    assert!(
        writer
            .set_participant("01", BTreeMap::from([("a\tb".to_string(), "x".to_string())]))
            .is_err()
    );
    assert!(BidsWriter::create(&dir.path().join("other"), BidsWriteOptions::new(" ")).is_err());
}
