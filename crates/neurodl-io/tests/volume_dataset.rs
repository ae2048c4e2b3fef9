//! Dataset discovery: MSD, nnU-Net v2 and paired folders, on built layouts and the shared
//! hippocampus set; every inconsistency is an error naming the file or key.

use std::path::Path;

use neurodl_io::testdata::shared_data_dir;
use neurodl_io::volume_dataset::DatasetLayout;
use neurodl_io::{Affine, Volume, VolumeDataset, write_volume};

fn touch_volume(path: &Path, value: u16) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let labels = ndarray::Array3::from_elem((2, 2, 2), value);
    write_volume(path, &Volume::from_labels(labels.view(), Affine::identity())).unwrap();
}

fn msd(root: &Path, cases: &[&str]) {
    let training: Vec<_> = cases
        .iter()
        .map(|c| {
            touch_volume(&root.join(format!("imagesTr/{c}.nii.gz")), 1);
            touch_volume(&root.join(format!("labelsTr/{c}.nii.gz")), 2);
            serde_json::json!({"image": format!("./imagesTr/{c}.nii.gz"), "label": format!("./labelsTr/{c}.nii.gz")})
        })
        .collect();
    touch_volume(&root.join("imagesTs/t_9.nii.gz"), 0);
    let json = serde_json::json!({
        "name": "Test", "modality": {"0": "MRI"},
        "labels": {"0": "background", "1": "Anterior", "2": "Posterior"},
        "numTraining": cases.len(), "training": training, "test": ["./imagesTs/t_9.nii.gz"],
    });
    std::fs::write(root.join("dataset.json"), json.to_string()).unwrap();
}

#[test]
fn msd_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    msd(root, &["h_3", "h_1", "h_2"]);
    let ds = VolumeDataset::open(root).unwrap();
    assert_eq!(ds.layout, DatasetLayout::Msd);
    let ids: Vec<&str> = ds.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["h_1", "h_2", "h_3"], "sorted");
    assert_eq!(ds.channel_names, ["MRI"]);
    assert_eq!(ds.label_names[&2], "Posterior");
    assert_eq!(ds.test_cases[0].id, "t_9");
    let case = ds.case("h_2").unwrap();
    assert_eq!(
        case.read_label().unwrap().unwrap().to_labels().unwrap()[(0, 0, 0)],
        2
    );
    assert_eq!(case.read_images().unwrap().len(), 1);
    // An unlisted label file is a label without an image.
    touch_volume(&root.join("labelsTr/h_7.nii.gz"), 1);
    let err = VolumeDataset::open(root).unwrap_err().to_string();
    assert!(
        err.contains("label without image") && err.contains("h_7"),
        "{err}"
    );
    std::fs::remove_file(root.join("labelsTr/h_7.nii.gz")).unwrap();
    // Missing key.
    let text = std::fs::read_to_string(root.join("dataset.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json.as_object_mut().unwrap().remove("training");
    std::fs::write(root.join("dataset.json"), json.to_string()).unwrap();
    let err = VolumeDataset::open(root).unwrap_err().to_string();
    assert!(err.contains("dataset.json") && err.contains("training"), "{err}");
}

fn nnunet(root: &Path, cases: &[&str], channels: usize) {
    for c in cases {
        for ch in 0..channels {
            touch_volume(&root.join(format!("imagesTr/{c}_{ch:04}.nii.gz")), ch as u16);
        }
        touch_volume(&root.join(format!("labelsTr/{c}.nii.gz")), 1);
    }
    let json = serde_json::json!({
        "channel_names": {"0": "T2", "1": "ADC"},
        "labels": {"background": 0, "PZ": 1, "TZ": 2},
        "numTraining": cases.len(), "file_ending": ".nii.gz",
    });
    std::fs::write(root.join("dataset.json"), json.to_string()).unwrap();
}

#[test]
fn nnunet_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    nnunet(root, &["prostate_02", "prostate_01"], 2);
    let ds = VolumeDataset::open(root).unwrap();
    assert_eq!(ds.layout, DatasetLayout::NnUnetV2);
    assert_eq!(ds.channel_names, ["T2", "ADC"]);
    assert_eq!(ds.label_names.get(&1).map(String::as_str), Some("PZ"));
    let case = &ds.cases[0];
    assert_eq!(case.id, "prostate_01");
    assert!(case.images[1].ends_with("imagesTr/prostate_01_0001.nii.gz"));
    let images = case.read_images().unwrap();
    assert_eq!(images[1].to_labels().unwrap()[(1, 1, 1)], 1, "channel order");
    // A missing channel.
    std::fs::remove_file(root.join("imagesTr/prostate_02_0001.nii.gz")).unwrap();
    let err = VolumeDataset::open(root).unwrap_err().to_string();
    assert!(
        err.contains("prostate_02") && err.contains("missing channel(s) [1]"),
        "{err}"
    );
    touch_volume(&root.join("imagesTr/prostate_02_0001.nii.gz"), 1);
    // An image without its label.
    std::fs::remove_file(root.join("labelsTr/prostate_02.nii.gz")).unwrap();
    let err = VolumeDataset::open(root).unwrap_err().to_string();
    assert!(
        err.contains("image without label") && err.contains("prostate_02"),
        "{err}"
    );
}

#[test]
fn paired_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for c in ["b", "a"] {
        touch_volume(&root.join(format!("images/{c}.nii.gz")), 1);
        touch_volume(&root.join(format!("labels/{c}.nii.gz")), 1);
    }
    let ds = VolumeDataset::open(root).unwrap();
    assert_eq!(ds.layout, DatasetLayout::PairedFolders);
    assert_eq!(
        ds.cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    touch_volume(&root.join("images/c.nii.gz"), 1);
    let err = VolumeDataset::open(root).unwrap_err().to_string();
    assert!(err.contains("has no label") && err.contains("c.nii.gz"), "{err}");
    touch_volume(&root.join("labels/c.nii.gz"), 1);
    touch_volume(&root.join("labels/d.nii.gz"), 1);
    let err = VolumeDataset::open(root).unwrap_err().to_string();
    assert!(err.contains("has no image") && err.contains("d.nii.gz"), "{err}");
    std::fs::remove_file(root.join("labels/d.nii.gz")).unwrap();
    // Same id twice (.nii and .nii.gz).
    touch_volume(&root.join("images/a.nii"), 1);
    let err = VolumeDataset::open(root).unwrap_err().to_string();
    assert!(err.contains("duplicate case id `a`"), "{err}");
}

#[test]
fn shared_hippocampus_set() {
    let Some(data) = shared_data_dir() else { return };
    let root = data.join("mri/msd_hippocampus");
    if !root.is_dir() {
        eprintln!("skipped: {} absent", root.display());
        return;
    }
    let ds = VolumeDataset::open(&root).unwrap();
    assert_eq!(ds.cases.len(), 201);
    assert_eq!(ds.cases[0].id, "hippocampus_001");
    let case = &ds.cases[0];
    let image = &case.read_images().unwrap()[0];
    let label = case.read_label().unwrap().unwrap();
    assert_eq!(image.spatial_shape(), label.spatial_shape());
    assert!(label.to_labels().unwrap().iter().all(|v| *v <= 2));
}
