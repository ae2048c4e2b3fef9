//! The whole preprocessing + augmentation path on real MSD hippocampus cases (shared data;
//! skipped with a printed reason when absent): canonical orientation, crop to non-zero,
//! z-score, resampling and back, and an epoch of the patch queue with nnU-Net's default
//! augmentation.

use std::sync::Arc;

use neurodl_volume::intensity::{ZScoreRegion, zscore};
use neurodl_volume::patch::CaseLoader;
use neurodl_volume::{
    Interpolation, PatchQueue, PatchSampler, Pipeline, QueueConfig, Subject, VolumeError, spatial,
};

fn load_case(dir: &std::path::Path, name: &str) -> Subject {
    let image = neurodl_io::open_volume(&dir.join("images").join(name)).expect("image reads");
    let label = neurodl_io::open_volume(&dir.join("labels").join(name)).expect("label reads");
    Subject::from_volumes(name, &[image], Some(&label)).expect("image and label agree")
}

#[test]
fn hippocampus_cases_preprocess_augment_and_map_back() {
    let Some(data) = neurodl_io::testdata::shared_data_dir() else {
        return;
    };
    let dir = data.join("mri/msd_hippocampus");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let names = [
        "hippocampus_001.nii.gz",
        "hippocampus_003.nii.gz",
        "hippocampus_004.nii.gz",
    ];
    let mut cases = Vec::new();
    for name in names {
        let raw = load_case(&dir, name);
        let (canonical, record) = spatial::reorient_to_canonical(&raw);
        let (mut cropped, bbox) = spatial::crop_to_nonzero(&canonical).unwrap();
        zscore(cropped.image_mut(), ZScoreRegion::NonZero).unwrap();
        // A prediction on the preprocessed grid (here: the label itself) maps back exactly.
        let back = bbox.uncrop_labels(cropped.label().unwrap().view(), 0).unwrap();
        let back = record.undo_labels(back.view()).unwrap();
        let fg_in = raw.label().unwrap().iter().filter(|v| **v > 0).count();
        assert_eq!(
            back.iter().filter(|v| **v > 0).count(),
            fg_in,
            "{name}: foreground kept"
        );
        // Resample to 1.5 mm and back: most labels survive two nearest-neighbour passes.
        let coarse = spatial::resample_to_spacing(&cropped, [1.5, 1.5, 1.5], Interpolation::Cubic).unwrap();
        let again = spatial::resample_labels_to(
            coarse.label().unwrap().view(),
            coarse.affine(),
            &cropped.geometry(),
            0,
        )
        .unwrap();
        let agree = again
            .iter()
            .zip(cropped.label().unwrap())
            .filter(|(a, b)| a == b)
            .count();
        assert!(
            agree as f64 > 0.85 * again.len() as f64,
            "{name}: {agree} of {}",
            again.len()
        );
        cases.push(cropped);
    }
    let cases = Arc::new(cases);
    let c2 = Arc::clone(&cases);
    let loader: CaseLoader = Arc::new(move |i| {
        c2.get(i).cloned().ok_or(VolumeError::Load {
            index: i,
            message: "no such case".into(),
        })
    });
    let config = QueueConfig {
        sampler: PatchSampler {
            patch_size: [40, 56, 40],
            foreground_probability: 0.33,
        },
        samples_per_epoch: 6,
        workers: 2,
        capacity: 4,
        seed: 2026,
        augmentation: Pipeline::nnunet_default(),
    };
    let patches: Vec<_> = PatchQueue::new(config.clone(), cases.len(), Arc::clone(&loader), 0)
        .unwrap()
        .map(|p| p.unwrap())
        .collect();
    let again: Vec<_> = PatchQueue::new(
        QueueConfig {
            workers: 1,
            capacity: 1,
            ..config
        },
        cases.len(),
        loader,
        0,
    )
    .unwrap()
    .map(|p| p.unwrap())
    .collect();
    assert_eq!(patches, again);
    for p in &patches {
        assert_eq!(
            p.subject.spatial_shape(),
            [40, 56, 40],
            "patch larger than the case is padded"
        );
        assert!(
            p.subject.label().unwrap().iter().all(|v| *v <= 2),
            "hippocampus labels are 0, 1, 2"
        );
        assert!(p.subject.image().iter().all(|v| v.is_finite()));
    }
}
