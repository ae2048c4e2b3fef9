//! Segmentation dataset layouts: the Medical Segmentation Decathlon (MSD), nnU-Net v2, and
//! a plain pair of `images/` + `labels/` folders.
//!
//! * **MSD** — `dataset.json` with `modality` (`{"0": "MRI"}`), `labels` (`{"0":
//!   "background", ...}`) and `training: [{image, label}]` (paths relative to the root,
//!   `./imagesTr/x.nii.gz`); multi-modal images are single 4-D files, so a case has one
//!   image path whose channels are the modalities. `test` (a list of paths) fills
//!   [`VolumeDataset::test_cases`].
//! * **nnU-Net v2** — `dataset.json` with `channel_names` (`{"0": "T2"}`), `labels`
//!   (`{"background": 0, ...}`, name → integer) and `file_ending`; one file per channel,
//!   `imagesTr/CASE_0000.nii.gz`, `CASE_0001...`, labels `labelsTr/CASE.nii.gz`, optional
//!   `imagesTs/`.
//! * **Paired folders** — `images/` and (optionally) `labels/`, matched by file name.
//!
//! Discovery only lists files and checks the layout (every image has its label and the
//! other way round, no id twice, every channel present); volumes are read on demand with
//! [`CaseFiles::read_images`] / [`CaseFiles::read_label`]. Cases are sorted by id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, IoContext, Result};
use crate::volume::Volume;
use crate::volume_open::open_volume;

/// Which layout a dataset was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetLayout {
    /// Medical Segmentation Decathlon `dataset.json` (`modality`, `training`).
    Msd,
    /// nnU-Net v2 `dataset.json` (`channel_names`, `file_ending`).
    NnUnetV2,
    /// `images/` + `labels/` matched by file name.
    PairedFolders,
}

/// The files of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFiles {
    /// Case identifier (file name without extension and, for nnU-Net, without `_0000`).
    pub id: String,
    /// Image files: one per channel (nnU-Net), or one file holding all channels (MSD,
    /// paired folders).
    pub images: Vec<PathBuf>,
    /// The label map, `None` for unlabelled (test) cases.
    pub label: Option<PathBuf>,
}

impl CaseFiles {
    /// Reads the image files in channel order.
    pub fn read_images(&self) -> Result<Vec<Volume>> {
        self.images.iter().map(|p| open_volume(p)).collect()
    }

    /// Reads the label map, if the case has one.
    pub fn read_label(&self) -> Result<Option<Volume>> {
        self.label.as_deref().map(open_volume).transpose()
    }
}

/// A discovered segmentation dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeDataset {
    /// The dataset folder.
    pub root: PathBuf,
    /// The layout it was read as.
    pub layout: DatasetLayout,
    /// Training cases (with labels, except in a paired layout without `labels/`), sorted by id.
    pub cases: Vec<CaseFiles>,
    /// Unlabelled test cases (`imagesTs/`, MSD `test`), sorted by id.
    pub test_cases: Vec<CaseFiles>,
    /// Channel (modality) names in channel order; empty when the layout has none.
    pub channel_names: Vec<String>,
    /// Label value → name (`0` is usually `background`); empty when the layout has none.
    pub label_names: BTreeMap<u16, String>,
}

const EXTENSIONS: [&str; 4] = [".nii.gz", ".nii", ".nrrd", ".nhdr"];

/// `(stem, extension)` of a volume file name, or `None` for other files.
fn split_volume_name(name: &str) -> Option<(&str, &str)> {
    let lower = name.to_ascii_lowercase();
    EXTENSIONS
        .iter()
        .find(|e| lower.ends_with(*e) && lower.len() > e.len())
        .map(|e| name.split_at(name.len() - e.len()))
}

/// `(case, channel)` of an nnU-Net image file stem `CASE_XXXX` (a 4-digit channel index),
/// or `None` for any other stem.
pub fn split_channel_stem(stem: &str) -> Option<(&str, usize)> {
    stem.rsplit_once('_')
        .filter(|(_, c)| c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()))
        .map(|(id, c)| (id, c.parse::<usize>().expect("four digits")))
}

/// Volume files of a folder (hidden files such as macOS `._x.nii.gz` skipped), by name.
fn list_volumes(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        if split_volume_name(&name).is_some() {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

impl VolumeDataset {
    /// Opens `root` as nnU-Net v2 or MSD when it has a `dataset.json` (told apart by
    /// `channel_names` vs `modality`), else as paired `images/` + `labels/` folders.
    pub fn open(root: &Path) -> Result<Self> {
        let json_path = root.join("dataset.json");
        if json_path.is_file() {
            let json = read_json(&json_path)?;
            if json.get("channel_names").is_some() {
                Self::from_nnunet(root, &json_path, &json)
            } else if json.get("modality").is_some() {
                Self::from_msd(root, &json_path, &json)
            } else {
                Err(Error::malformed(
                    &json_path,
                    "channel_names / modality",
                    "neither nnU-Net v2's `channel_names` nor MSD's `modality` is present",
                ))
            }
        } else if root.join("images").is_dir() {
            Self::open_paired(root, "images", "labels")
        } else {
            Err(Error::malformed(
                root,
                "dataset layout",
                "no dataset.json (MSD / nnU-Net) and no images/ folder",
            ))
        }
    }

    /// Opens paired folders `root/images_dir` and `root/labels_dir`, matching files by name.
    /// Without a labels folder every case is unlabelled.
    pub fn open_paired(root: &Path, images_dir: &str, labels_dir: &str) -> Result<Self> {
        let images_path = root.join(images_dir);
        let labels_path = root.join(labels_dir);
        let images = by_id(&images_path)?;
        let labels = if labels_path.is_dir() {
            Some(by_id(&labels_path)?)
        } else {
            None
        };
        if let Some(labels) = &labels {
            if let Some(id) = images.keys().find(|id| !labels.contains_key(*id)) {
                return Err(Error::malformed(
                    &labels_path,
                    id,
                    format!("image {} has no label", images[id].display()),
                ));
            }
            if let Some(id) = labels.keys().find(|id| !images.contains_key(*id)) {
                return Err(Error::malformed(
                    &images_path,
                    id,
                    format!("label {} has no image", labels[id].display()),
                ));
            }
        }
        let cases = images
            .into_iter()
            .map(|(id, image)| CaseFiles {
                label: labels.as_ref().map(|l| l[&id].clone()),
                images: vec![image],
                id,
            })
            .collect();
        Ok(VolumeDataset {
            root: root.to_path_buf(),
            layout: DatasetLayout::PairedFolders,
            cases,
            test_cases: Vec::new(),
            channel_names: Vec::new(),
            label_names: BTreeMap::new(),
        })
    }

    fn from_msd(root: &Path, json_path: &Path, json: &Value) -> Result<Self> {
        let channel_names = indexed_names(json_path, json, "modality")?;
        let label_names = indexed_names(json_path, json, "labels")?
            .into_iter()
            .enumerate()
            .map(|(i, n)| (i as u16, n))
            .collect();
        let training = json
            .get("training")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::malformed(json_path, "training", "missing or not a list"))?;
        let resolve = |field: String, value: Option<&Value>| -> Result<PathBuf> {
            let rel = value
                .and_then(Value::as_str)
                .ok_or_else(|| Error::malformed(json_path, &field, "missing or not a string"))?;
            let path = root.join(rel.trim_start_matches("./"));
            if !path.is_file() {
                return Err(Error::malformed(
                    json_path,
                    &field,
                    format!("{} does not exist", path.display()),
                ));
            }
            Ok(path)
        };
        let mut cases = Vec::new();
        let mut ids = BTreeSet::new();
        for (i, entry) in training.iter().enumerate() {
            let image = resolve(format!("training[{i}].image"), entry.get("image"))?;
            let label = resolve(format!("training[{i}].label"), entry.get("label"))?;
            let id = case_id(&image);
            if !ids.insert(id.clone()) {
                return Err(Error::malformed(
                    json_path,
                    format!("training[{i}]"),
                    format!("case id `{id}` listed twice"),
                ));
            }
            cases.push(CaseFiles {
                id,
                images: vec![image],
                label: Some(label),
            });
        }
        // Every file in imagesTr / labelsTr must belong to a listed case.
        let listed_images: BTreeSet<PathBuf> = cases.iter().flat_map(|c| c.images.clone()).collect();
        let listed_labels: BTreeSet<PathBuf> = cases.iter().filter_map(|c| c.label.clone()).collect();
        for (dir, listed, what) in [
            ("imagesTr", &listed_images, "image without label"),
            ("labelsTr", &listed_labels, "label without image"),
        ] {
            let dir = root.join(dir);
            if dir.is_dir() {
                for (name, path) in list_volumes(&dir)? {
                    if !listed.contains(&path) {
                        return Err(Error::malformed(
                            json_path,
                            "training",
                            format!("{what}: {dir}/{name} is not listed", dir = dir.display()),
                        ));
                    }
                }
            }
        }
        let mut test_cases = Vec::new();
        if let Some(test) = json.get("test").and_then(Value::as_array) {
            for (i, entry) in test.iter().enumerate() {
                let image = resolve(format!("test[{i}]"), Some(entry))?;
                test_cases.push(CaseFiles {
                    id: case_id(&image),
                    images: vec![image],
                    label: None,
                });
            }
        }
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        test_cases.sort_by(|a, b| a.id.cmp(&b.id));
        check_unique(json_path, "test", &test_cases)?;
        Ok(VolumeDataset {
            root: root.to_path_buf(),
            layout: DatasetLayout::Msd,
            cases,
            test_cases,
            channel_names,
            label_names,
        })
    }

    fn from_nnunet(root: &Path, json_path: &Path, json: &Value) -> Result<Self> {
        let channel_names = indexed_names(json_path, json, "channel_names")?;
        let labels = json.get("labels").and_then(Value::as_object).ok_or_else(|| {
            Error::malformed(json_path, "labels", "missing or not an object of name → integer")
        })?;
        let mut label_names = BTreeMap::new();
        for (name, value) in labels {
            let v = match value {
                Value::Number(n) => n.as_u64().filter(|v| *v <= u16::MAX as u64),
                Value::Array(_) => {
                    return Err(Error::unsupported(
                        json_path,
                        format!("labels.{name}: region-based label (a list of values)"),
                    ));
                }
                _ => None,
            }
            .ok_or_else(|| {
                Error::malformed(
                    json_path,
                    format!("labels.{name}"),
                    format!("{value} is not a label in 0..=65535"),
                )
            })?;
            if let Some(other) = label_names.insert(v as u16, name.clone()) {
                return Err(Error::malformed(
                    json_path,
                    format!("labels.{name}"),
                    format!("value {v} is also `{other}`"),
                ));
            }
        }
        let ending = json
            .get("file_ending")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::malformed(json_path, "file_ending", "missing or not a string"))?
            .to_string();
        let n_channels = channel_names.len();
        let cases = nnunet_cases(root, "imagesTr", Some("labelsTr"), &ending, n_channels)?;
        let test_cases = if root.join("imagesTs").is_dir() {
            nnunet_cases(root, "imagesTs", None, &ending, n_channels)?
        } else {
            Vec::new()
        };
        if let Some(n) = json.get("numTraining").and_then(Value::as_u64)
            && n as usize != cases.len()
        {
            return Err(Error::malformed(
                json_path,
                "numTraining",
                format!("{n}, but imagesTr holds {} cases", cases.len()),
            ));
        }
        Ok(VolumeDataset {
            root: root.to_path_buf(),
            layout: DatasetLayout::NnUnetV2,
            cases,
            test_cases,
            channel_names,
            label_names,
        })
    }

    /// The case with this id.
    pub fn case(&self, id: &str) -> Option<&CaseFiles> {
        self.cases
            .binary_search_by(|c| c.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.cases[i])
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).at(path)?;
    serde_json::from_str(&text).map_err(|e| Error::malformed(path, "json", e.to_string()))
}

/// `{"0": a, "1": b}` → `[a, b]`, requiring the keys to be exactly `0..n`.
fn indexed_names(json_path: &Path, json: &Value, key: &str) -> Result<Vec<String>> {
    let map = json
        .get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| Error::malformed(json_path, key, "missing or not an object"))?;
    let mut names = vec![None; map.len()];
    for (k, v) in map {
        let index: usize = k.parse().ok().filter(|i| *i < names.len()).ok_or_else(|| {
            Error::malformed(
                json_path,
                format!("{key}.{k}"),
                format!("keys must be 0..{}", map.len()),
            )
        })?;
        let name = v
            .as_str()
            .ok_or_else(|| Error::malformed(json_path, format!("{key}.{k}"), "not a string"))?;
        names[index] = Some(name.to_string());
    }
    Ok(names
        .into_iter()
        .map(|n| n.expect("keys 0..n are distinct"))
        .collect())
}

fn case_id(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    split_volume_name(&name).map_or(name.clone(), |(stem, _)| stem.to_string())
}

/// Volume files of `dir` keyed by id, refusing two files with the same id.
fn by_id(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for (name, path) in list_volumes(dir)? {
        let id = case_id(&path);
        if let Some(previous) = out.insert(id.clone(), path) {
            return Err(Error::malformed(
                dir,
                &name,
                format!("duplicate case id `{id}` (also {})", previous.display()),
            ));
        }
    }
    Ok(out)
}

fn check_unique(path: &Path, field: &str, cases: &[CaseFiles]) -> Result<()> {
    for pair in cases.windows(2) {
        if pair[0].id == pair[1].id {
            return Err(Error::malformed(
                path,
                field,
                format!("case id `{}` listed twice", pair[0].id),
            ));
        }
    }
    Ok(())
}

fn nnunet_cases(
    root: &Path,
    images_dir: &str,
    labels_dir: Option<&str>,
    ending: &str,
    n_channels: usize,
) -> Result<Vec<CaseFiles>> {
    let dir = root.join(images_dir);
    let mut channels: BTreeMap<String, BTreeMap<usize, PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).at(&dir)? {
        let entry = entry.at(&dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(ending) {
            continue;
        }
        let stem = &name[..name.len() - ending.len()];
        let parsed = split_channel_stem(stem).map(|(id, c)| (id.to_string(), c));
        let (id, channel) = parsed.ok_or_else(|| {
            Error::malformed(
                &dir,
                &name,
                "image file name is not CASE_XXXX (a 4-digit channel index)",
            )
        })?;
        if channel >= n_channels {
            return Err(Error::malformed(
                &dir,
                &name,
                format!("channel {channel}, but dataset.json names {n_channels}"),
            ));
        }
        if channels
            .entry(id.clone())
            .or_default()
            .insert(channel, entry.path())
            .is_some()
        {
            return Err(Error::malformed(
                &dir,
                &name,
                format!("duplicate channel {channel} of case `{id}`"),
            ));
        }
    }
    let labels = match labels_dir {
        Some(l) => {
            let ldir = root.join(l);
            let mut map = BTreeMap::new();
            for entry in std::fs::read_dir(&ldir).at(&ldir)? {
                let entry = entry.at(&ldir)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || !name.ends_with(ending) {
                    continue;
                }
                let id = name[..name.len() - ending.len()].to_string();
                if !channels.contains_key(&id) {
                    return Err(Error::malformed(
                        &ldir,
                        &name,
                        format!("label without image: no {images_dir}/{id}_0000{ending}"),
                    ));
                }
                map.insert(id, entry.path());
            }
            Some((ldir, map))
        }
        None => None,
    };
    let mut cases = Vec::new();
    for (id, files) in channels {
        if files.len() != n_channels {
            let missing: Vec<usize> = (0..n_channels).filter(|c| !files.contains_key(c)).collect();
            return Err(Error::malformed(
                &dir,
                &id,
                format!("case is missing channel(s) {missing:?}"),
            ));
        }
        let label = match &labels {
            Some((ldir, map)) => Some(map.get(&id).cloned().ok_or_else(|| {
                Error::malformed(ldir, &id, format!("image without label: no {id}{ending}"))
            })?),
            None => None,
        };
        cases.push(CaseFiles {
            images: files.into_values().collect(),
            label,
            id,
        });
    }
    Ok(cases)
}
