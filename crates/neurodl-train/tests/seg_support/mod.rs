//! A tiny synthetic labelled 3-D dataset for the segmentation integration tests (shared by
//! `neurodl-train/tests/seg_run.rs` and `neurodl-cli/tests/seg.rs`).
//!
//! Six cases in the paired layout (`images/caseNNN.nii.gz` + `labels/caseNNN.nii.gz`): a
//! noisy bright ellipsoid (label 1) holding a brighter small blob (label 2) whose position
//! depends on the case. The geometry varies on purpose so that preprocessing is exercised
//! and a prediction must be mapped back exactly: most cases are RAS with 1.2 × 1 × 1.5 mm
//! voxels, one is stored LPS-like (x and y flipped, so reorientation permutes nothing but
//! flips two axes), one has 1 × 1 × 2 mm voxels and another shape (so it is resampled to the
//! plan's spacing and back), and one has a zero rim (so cropping to the non-zero box matters).

#![allow(dead_code)] // each test crate uses a different part

use std::path::{Path, PathBuf};

use neurodl_io::{Affine, Volume, write_volume};

/// Number of cases [`write_dataset`] writes.
pub const N_CASES: usize = 6;

/// The experiment text for a dataset at `root`: a 4/8-feature U-Net on the whole 16 × 16 × 12
/// volume, 2 epochs of 2 steps, fold 1 of 3 without mirroring, no augmentation unless
/// `augmentation` is given (a TOML fragment placed at the end).
pub fn experiment_toml(root: &Path, augmentation: &str) -> String {
    format!(
        r#"
name = "tiny-seg"
seed = 7

[dataset]
root = "{}"
channels = ["MRI"]
labels = {{ 0 = "background", 1 = "body", 2 = "blob" }}

[plan]
base_features = 4
max_features = 8
max_batch_size = 2
target_spacing = [1.2, 1.0, 1.5]

[training]
epochs = 2
iterations_per_epoch = 2
validation_patches = 2
workers = 1

[evaluation]
n_folds = 3
folds = [1]
mirror = false

{augmentation}
"#,
        root.display().to_string().replace('\\', "/")
    )
}

/// "No augmentation" as an experiment fragment.
pub const NO_AUGMENTATION: &str = "[augmentation]\ntransform = []\n";

/// A reproducible uniform number in [0, 1) from a 64-bit state (SplitMix64).
fn uniform(state: &mut u64) -> f32 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 24) as f32
}

/// The shape and affine of case `i`.
pub fn case_geometry(i: usize) -> ([usize; 3], Affine) {
    match i {
        // LPS-like storage: x and y run towards -x and -y in world space.
        2 => (
            [16, 16, 12],
            Affine::from_rows([
                [-1.2, 0.0, 0.0, 20.0],
                [0.0, -1.0, 0.0, 14.0],
                [0.0, 0.0, 1.5, -7.0],
            ]),
        ),
        // Another spacing and shape: resampled to the plan's spacing and back.
        4 => (
            [19, 15, 9],
            Affine::from_rows([[1.0, 0.0, 0.0, -3.0], [0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 2.0, 1.0]]),
        ),
        _ => (
            [16, 16, 12],
            Affine::from_rows([
                [1.2, 0.0, 0.0, -9.6 + i as f64],
                [0.0, 1.0, 0.0, -8.0],
                [0.0, 0.0, 1.5, 4.5],
            ]),
        ),
    }
}

/// `Vec<[[f32; Z]; Y]>` of `x` planes from `f(x, y, z)`: converts into an `Array3` without
/// naming `ndarray`, which the CLI crate does not depend on.
fn grid<const Y: usize, const Z: usize>(
    x: usize,
    f: impl Fn(usize, usize, usize) -> f32,
) -> Vec<[[f32; Z]; Y]> {
    (0..x)
        .map(|i| std::array::from_fn(|j| std::array::from_fn(|k| f(i, j, k))))
        .collect()
}

/// Image (float) and label map (values 0, 1, 2, stored as u8) of case `i`.
pub fn case_volumes(i: usize) -> (Volume, Volume) {
    let (shape, affine) = case_geometry(i);
    let spacing = affine.spacing();
    let centre = shape.map(|n| (n as f64 - 1.0) / 2.0);
    // Semi-axes in mm, so every case shows the same physical body whatever its voxels.
    let semi_mm = [6.0, 5.5, 6.0];
    let blob_offset = [
        [-2.0, -1.5, 0.0],
        [2.0, 1.0, -1.5],
        [0.0, 2.0, 1.5],
        [-1.5, 1.5, -1.5],
        [1.5, -2.0, 1.5],
        [0.0, 0.0, 0.0],
    ][i % 6];
    let class = |x: usize, y: usize, z: usize| -> u16 {
        let mm = [
            (x as f64 - centre[0]) * spacing[0],
            (y as f64 - centre[1]) * spacing[1],
            (z as f64 - centre[2]) * spacing[2],
        ];
        let r2: f64 = (0..3).map(|a| (mm[a] / semi_mm[a]).powi(2)).sum();
        let b2: f64 = (0..3).map(|a| ((mm[a] - blob_offset[a]) / 2.2).powi(2)).sum();
        if b2 <= 1.0 {
            2
        } else if r2 <= 1.0 {
            1
        } else {
            0
        }
    };
    let intensity = |x: usize, y: usize, z: usize| -> f32 {
        // A zero rim on case 3: cropping to the non-zero box removes it (background there).
        if i == 3 && (x == 0 || y == 0 || x == shape[0] - 1 || y == shape[1] - 1) {
            return 0.0;
        }
        let mut state = 0x5EED_0000 + ((i * 64 + x) * 64 + y) as u64 * 64 + z as u64;
        let noise = 20.0 * (uniform(&mut state) - 0.5);
        [60.0, 250.0, 400.0][class(x, y, z) as usize] + noise
    };
    let label = |x: usize, y: usize, z: usize| f32::from(class(x, y, z));
    let (image, label) = if shape == [19, 15, 9] {
        (
            Volume::from_f32(grid::<15, 9>(19, intensity).into(), affine),
            Volume::from_f32(grid::<15, 9>(19, label).into(), affine),
        )
    } else {
        assert_eq!(shape, [16, 16, 12]);
        (
            Volume::from_f32(grid::<16, 12>(16, intensity).into(), affine),
            Volume::from_f32(grid::<16, 12>(16, label).into(), affine),
        )
    };
    let labels = label.to_labels().expect("integer labels");
    (image, Volume::from_labels(labels.view(), affine))
}

/// Writes the dataset under `root` (images/ and labels/) and returns the image paths.
pub fn write_dataset(root: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(root.join("images")).unwrap();
    std::fs::create_dir_all(root.join("labels")).unwrap();
    (0..N_CASES)
        .map(|i| {
            let (image, label) = case_volumes(i);
            let name = format!("case{i:03}.nii.gz");
            let image_path = root.join("images").join(&name);
            write_volume(&image_path, &image).unwrap();
            write_volume(&root.join("labels").join(&name), &label).unwrap();
            image_path
        })
        .collect()
}
