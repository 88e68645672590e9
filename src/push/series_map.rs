//! The series of one pushed family, packed.
//!
//! A map of `(sample name, sorted labels)` to a value held as separate
//! strings costs about 400 bytes a series (a heap string per name and
//! value, a vector per label set, a tree node share). Pushed families are
//! read far more often than they change and their series share their
//! sample names and label names, so one family keeps:
//! - each sample name and label name once, in `names`;
//! - every series key back to back in one byte buffer, the names as
//!   indexes into `names` and the label values inline;
//! - where each key starts and its value, in two vectors in key order
//!   (binary search for a lookup);
//! - timestamps only once a JSON gauge brings one.
//!
//! That is the key's bytes plus 12 bytes a series (about 25 for a series
//! with two short labels). The serialized form is the one of a
//! `BTreeMap<(String, Vec<(String, String)>), StoredValue>`, so the push
//! log and snapshot read and write as before.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::StoredValue;

/// Past this many names, a hash index finds a name instead of a scan.
const SCAN_NAMES: usize = 32;

/// The series of one family: sample name and labels (sorted by name, as
/// pushed) to value.
#[derive(Clone, Default)]
pub struct SeriesMap {
    /// Sample names and label names, each once.
    names: Vec<Box<str>>,
    /// `names` by text, once there are too many to scan.
    name_index: Option<HashMap<Box<str>, u32>>,
    /// The keys, back to back: per key, its body's length, then the body:
    /// the sample name's index, the label count, and per label the name's
    /// index, the value's length and the value's bytes (integers as
    /// LEB128 varints).
    keys: Vec<u8>,
    /// Where each key starts in `keys`, in key order.
    starts: Vec<u32>,
    /// The values, in key order.
    values: Vec<f64>,
    /// The pushers' timestamps in key order; empty while none was given.
    timestamps: Vec<Option<f64>>,
}

/// One series read from a [`SeriesMap`].
pub struct SeriesRef<'a> {
    map: &'a SeriesMap,
    body: &'a [u8],
    pub value: StoredValue,
}

impl<'a> SeriesRef<'a> {
    pub fn name(&self) -> &'a str {
        let (index, _) = read_varint(self.body);
        &self.map.names[index as usize]
    }

    /// The labels, sorted by name.
    pub fn labels(&self) -> Labels<'a> {
        let (_, rest) = read_varint(self.body);
        let (count, rest) = read_varint(rest);
        Labels {
            names: &self.map.names,
            rest,
            left: count as usize,
        }
    }
}

/// The labels of one series, as `(name, value)`.
#[derive(Clone)]
pub struct Labels<'a> {
    names: &'a [Box<str>],
    rest: &'a [u8],
    left: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (name, rest) = read_varint(self.rest);
        let (length, rest) = read_varint(rest);
        let (value, rest) = rest.split_at(length as usize);
        self.rest = rest;
        // Only whole `&str`s are ever written into a key.
        let value = std::str::from_utf8(value).unwrap_or_default();
        Some((&self.names[name as usize], value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Labels<'_> {}

fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads a varint written by [`write_varint`] from the start of `bytes`.
fn read_varint(bytes: &[u8]) -> (u64, &[u8]) {
    let mut n = 0u64;
    for (at, byte) in bytes.iter().enumerate() {
        n |= u64::from(byte & 0x7f) << (7 * at);
        if byte & 0x80 == 0 {
            return (n, &bytes[at + 1..]);
        }
    }
    (n, &[])
}

impl SeriesMap {
    pub fn new() -> Self {
        SeriesMap::default()
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The body of the key at position `at` in key order.
    fn body(&self, at: usize) -> &[u8] {
        let (length, body) = read_varint(&self.keys[self.starts[at] as usize..]);
        &body[..length as usize]
    }

    fn value_at(&self, at: usize) -> StoredValue {
        StoredValue {
            value: self.values[at],
            timestamp: self.timestamps.get(at).copied().flatten(),
        }
    }

    /// The series in key order (not the labels' alphabetical order: the
    /// exposition sorts them).
    pub fn iter(&self) -> impl Iterator<Item = SeriesRef<'_>> {
        (0..self.len()).map(move |at| SeriesRef {
            map: self,
            body: self.body(at),
            value: self.value_at(at),
        })
    }

    /// The index of a name held, if it is.
    fn find_name(&self, name: &str) -> Option<u32> {
        match &self.name_index {
            Some(index) => index.get(name).copied(),
            None => self
                .names
                .iter()
                .position(|held| &**held == name)
                .map(|at| at as u32),
        }
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(at) = self.find_name(name) {
            return at;
        }
        let at = self.names.len() as u32;
        self.names.push(name.into());
        if let Some(index) = &mut self.name_index {
            index.insert(name.into(), at);
        } else if self.names.len() > SCAN_NAMES {
            self.name_index = Some(
                self.names
                    .iter()
                    .enumerate()
                    .map(|(at, n)| (n.clone(), at as u32))
                    .collect(),
            );
        }
        at
    }

    /// The body of a key, or None when a name is not held (so no series
    /// has it).
    fn probe<'a>(
        &self,
        name: &str,
        labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Vec<u8>> {
        let mut body = Vec::with_capacity(16);
        write_varint(&mut body, u64::from(self.find_name(name)?));
        write_varint(&mut body, labels.len() as u64);
        for (label, value) in labels {
            write_varint(&mut body, u64::from(self.find_name(label)?));
            write_varint(&mut body, value.len() as u64);
            body.extend_from_slice(value.as_bytes());
        }
        Some(body)
    }

    /// Appends the key of `name` and `labels` to `keys`; returns where it
    /// starts and its body.
    fn append_key<'a>(
        &mut self,
        name: &str,
        labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    ) -> (u32, std::ops::Range<usize>) {
        let mut body = Vec::with_capacity(16);
        let name = self.intern(name);
        write_varint(&mut body, u64::from(name));
        write_varint(&mut body, labels.len() as u64);
        for (label, value) in labels {
            let label = self.intern(label);
            write_varint(&mut body, u64::from(label));
            write_varint(&mut body, value.len() as u64);
            body.extend_from_slice(value.as_bytes());
        }
        let start = self.keys.len();
        write_varint(&mut self.keys, body.len() as u64);
        let body_start = self.keys.len();
        self.keys.extend_from_slice(&body);
        (
            u32::try_from(start).expect("a family's keys stay far below 4 GiB"),
            body_start..self.keys.len(),
        )
    }

    fn search(&self, body: &[u8]) -> Result<usize, usize> {
        let mut low = 0;
        let mut high = self.len();
        while low < high {
            let mid = (low + high) / 2;
            match self.body(mid).cmp(body) {
                Ordering::Less => low = mid + 1,
                Ordering::Greater => high = mid,
                Ordering::Equal => return Ok(mid),
            }
        }
        Err(low)
    }

    fn position(&self, name: &str, labels: &[(String, String)]) -> Option<usize> {
        let body = self.probe(name, pairs(labels))?;
        self.search(&body).ok()
    }

    pub fn get(&self, name: &str, labels: &[(String, String)]) -> Option<StoredValue> {
        self.position(name, labels).map(|at| self.value_at(at))
    }

    pub fn contains(&self, name: &str, labels: &[(String, String)]) -> bool {
        self.position(name, labels).is_some()
    }

    /// Hands the value of the series to `change`, a zero value without a
    /// timestamp when the series is new, and keeps what it leaves.
    pub fn update<R>(
        &mut self,
        name: &str,
        labels: &[(String, String)],
        change: impl FnOnce(&mut StoredValue) -> R,
    ) -> R {
        let at = match self.position(name, labels) {
            Some(at) => at,
            None => {
                let (start, body) = self.append_key(name, pairs(labels));
                let body = self.keys[body].to_vec();
                let at = self.search(&body).unwrap_or_else(|at| at);
                self.starts.insert(at, start);
                self.values.insert(at, 0.0);
                if !self.timestamps.is_empty() {
                    self.timestamps.insert(at, None);
                }
                at
            }
        };
        let mut value = self.value_at(at);
        let result = change(&mut value);
        self.values[at] = value.value;
        if value.timestamp.is_some() && self.timestamps.is_empty() {
            self.timestamps.resize(self.len(), None);
        }
        if let Some(slot) = self.timestamps.get_mut(at) {
            *slot = value.timestamp;
        }
        result
    }

    /// Adds series in any order; [`SeriesMap::finish`] puts them in key
    /// order before the map is read.
    pub fn push_unsorted<'a>(
        &mut self,
        name: &str,
        labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
        value: StoredValue,
    ) {
        let (start, _) = self.append_key(name, labels);
        self.starts.push(start);
        self.values.push(value.value);
        if value.timestamp.is_some() && self.timestamps.is_empty() {
            self.timestamps.resize(self.starts.len(), None);
        } else if !self.timestamps.is_empty() {
            self.timestamps.push(None);
        }
        if let Some(slot) = self.timestamps.last_mut() {
            *slot = value.timestamp;
        }
    }

    /// Sorts what [`SeriesMap::push_unsorted`] added; a series added twice
    /// is refused, named by its sample name and labels.
    pub fn finish(mut self) -> Result<SeriesMap, (String, Vec<(String, String)>)> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|&a, &b| self.body(a).cmp(self.body(b)));
        if let Some(twice) = order
            .windows(2)
            .find(|pair| self.body(pair[0]) == self.body(pair[1]))
        {
            let series = SeriesRef {
                map: &self,
                body: self.body(twice[0]),
                value: self.value_at(twice[0]),
            };
            let labels = series
                .labels()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            return Err((series.name().to_owned(), labels));
        }
        self.starts = order.iter().map(|&at| self.starts[at]).collect();
        self.values = order.iter().map(|&at| self.values[at]).collect();
        if !self.timestamps.is_empty() {
            self.timestamps = order.iter().map(|&at| self.timestamps[at]).collect();
        }
        self.shrink_to_fit();
        Ok(self)
    }

    /// Gives back what the vectors reserved while growing: a family is
    /// built once and then held, often for the life of the process.
    fn shrink_to_fit(&mut self) {
        self.names.shrink_to_fit();
        self.keys.shrink_to_fit();
        self.starts.shrink_to_fit();
        self.values.shrink_to_fit();
        self.timestamps.shrink_to_fit();
    }
}

/// Label pairs as the `&str` pairs [`SeriesMap`] and the limits take.
pub fn pairs(labels: &[(String, String)]) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone {
    labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))
}

impl PartialEq for SeriesMap {
    /// The same series with the same values, however each map numbered
    /// its names.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.iter().all(|series| {
                let labels: Vec<(String, String)> = series
                    .labels()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                other.get(series.name(), &labels) == Some(series.value)
            })
    }
}

impl fmt::Debug for SeriesMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|series| {
                let labels: Vec<(&str, &str)> = series.labels().collect();
                ((series.name(), labels), series.value)
            }))
            .finish()
    }
}

impl Serialize for SeriesMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for series in self.iter() {
            let labels: Vec<(&str, &str)> = series.labels().collect();
            map.serialize_entry(&(series.name(), labels), &series.value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for SeriesMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = SeriesMap;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of series to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<SeriesMap, A::Error> {
                let mut map = SeriesMap::new();
                while let Some(((name, labels), value)) =
                    access.next_entry::<(String, Vec<(String, String)>), StoredValue>()?
                {
                    map.push_unsorted(&name, pairs(&labels), value);
                }
                map.finish().map_err(|(name, labels)| {
                    serde::de::Error::custom(format!("{name}{labels:?} is held twice"))
                })
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    type Model = BTreeMap<(String, Vec<(String, String)>), StoredValue>;

    /// A series from few names and values, so sequences revisit series.
    fn series() -> impl Strategy<Value = (String, Vec<(String, String)>)> {
        let name = prop::sample::select(vec!["a", "a_sum", "b_bucket", "\u{e9}"]);
        let label = (
            prop::sample::select(vec!["le", "code", "x", "y"]),
            "[a-c\\u{0}\"\n]{0,3}",
        );
        (name, prop::collection::btree_map(label.0, label.1, 0..3)).prop_map(|(n, labels)| {
            (
                n.to_owned(),
                labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            )
        })
    }

    fn assert_same(map: &SeriesMap, model: &Model) {
        assert_eq!(map.len(), model.len());
        for ((name, labels), value) in model {
            assert_eq!(map.get(name, labels), Some(*value), "{name}{labels:?}");
        }
        let read: Model = map
            .iter()
            .map(|s| {
                let labels = s
                    .labels()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                ((s.name().to_owned(), labels), s.value)
            })
            .collect();
        assert_eq!(&read, model);
    }

    proptest! {
        /// Built in bulk, then updated one series at a time, the map
        /// holds what a `BTreeMap` of owned strings holds, and its
        /// serialized form reads back as that map.
        #[test]
        fn behaves_as_a_map_of_owned_strings(
            bulk in prop::collection::btree_map(series(), -5.0f64..5.0, 0..40),
            updates in prop::collection::vec((series(), -5.0f64..5.0, prop::option::of(0.0f64..9.0)), 0..60),
        ) {
            let mut map = SeriesMap::new();
            let mut model = Model::new();
            for ((name, labels), v) in &bulk {
                map.push_unsorted(name, pairs(labels), value(*v));
                model.insert((name.clone(), labels.clone()), value(*v));
            }
            let mut map = map.finish().expect("a BTreeMap holds no key twice");
            assert_same(&map, &model);
            for ((name, labels), add, timestamp) in updates {
                map.update(&name, &labels, |slot| {
                    slot.value += add;
                    slot.timestamp = timestamp.or(slot.timestamp);
                });
                let slot = model.entry((name, labels)).or_insert(value(0.0));
                slot.value += add;
                slot.timestamp = timestamp.or(slot.timestamp);
            }
            assert_same(&map, &model);
            let bytes = postcard::to_allocvec(&map).expect("serializes");
            let back: Model = postcard::from_bytes(&bytes).expect("reads as the old map");
            prop_assert_eq!(&back, &model);
            let again: SeriesMap = postcard::from_bytes(&bytes).expect("reads back");
            prop_assert_eq!(again, map);
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn value(value: f64) -> StoredValue {
        StoredValue {
            value,
            timestamp: None,
        }
    }

    #[test]
    fn finds_updates_and_refuses_a_series_twice() {
        let mut map = SeriesMap::new();
        for i in (0..300).rev() {
            let l = labels(&[("code", "200"), ("series", &i.to_string())]);
            map.push_unsorted("x_total", pairs(&l), value(i as f64));
        }
        let mut map = map.finish().unwrap();
        assert_eq!(map.len(), 300);
        let l7 = labels(&[("code", "200"), ("series", "7")]);
        assert_eq!(map.get("x_total", &l7), Some(value(7.0)));
        assert!(!map.contains("x_total", &labels(&[("code", "200")])));
        assert!(!map.contains("y", &l7));
        map.update("x_total", &l7, |v| v.value += 1.0);
        assert_eq!(map.get("x_total", &l7), Some(value(8.0)));
        // A new series with a new label name and a timestamp.
        let fresh = labels(&[("other", "é\"\n")]);
        map.update("x_total", &fresh, |v| v.timestamp = Some(5.0));
        assert_eq!(map.len(), 301);
        assert_eq!(
            map.get("x_total", &fresh),
            Some(StoredValue {
                value: 0.0,
                timestamp: Some(5.0)
            })
        );
        assert_eq!(map.get("x_total", &l7), Some(value(8.0)));
        let read: Vec<(&str, &str)> = map
            .iter()
            .find(|s| s.value.timestamp.is_some())
            .unwrap()
            .labels()
            .collect();
        assert_eq!(read, [("other", "é\"\n")]);

        let mut twice = SeriesMap::new();
        twice.push_unsorted("a", pairs(&l7), value(1.0));
        twice.push_unsorted("b", pairs(&l7), value(1.0));
        twice.push_unsorted("a", pairs(&l7), value(2.0));
        assert_eq!(twice.finish().unwrap_err(), ("a".to_owned(), l7));
    }

    #[test]
    fn a_timestamp_on_the_first_series_read_back_stays_with_it() {
        let mut map = SeriesMap::new();
        let stamped = StoredValue {
            value: 1.0,
            timestamp: Some(7.0),
        };
        map.push_unsorted("a", pairs(&[]), stamped);
        map.push_unsorted("b", pairs(&[]), value(2.0));
        let map = map.finish().unwrap();
        assert_eq!(map.get("a", &[]), Some(stamped));
        assert_eq!(map.get("b", &[]), Some(value(2.0)));
    }

    #[test]
    fn many_label_names_are_indexed() {
        let mut map = SeriesMap::new();
        for i in 0..200 {
            let l = labels(&[(&format!("l{i}"), "v")]);
            map.update("m", &l, |v| v.value = i as f64);
        }
        assert!(map.name_index.is_some());
        assert_eq!(map.get("m", &labels(&[("l150", "v")])), Some(value(150.0)));
    }

    #[test]
    fn serializes_as_the_map_it_replaces() {
        let mut old: BTreeMap<(String, Vec<(String, String)>), StoredValue> = BTreeMap::new();
        let mut map = SeriesMap::new();
        for (name, l, v) in [
            ("h_bucket", labels(&[("le", "+Inf")]), 3.0),
            ("h_bucket", labels(&[("le", "0.5")]), 1.0),
            ("h_count", labels(&[]), 3.0),
        ] {
            map.push_unsorted(name, pairs(&l), value(v));
            old.insert((name.to_owned(), l), value(v));
        }
        let map = map.finish().unwrap();
        let from_old: SeriesMap =
            postcard::from_bytes(&postcard::to_allocvec(&old).unwrap()).unwrap();
        assert_eq!(from_old, map);
        let back: BTreeMap<(String, Vec<(String, String)>), StoredValue> =
            postcard::from_bytes(&postcard::to_allocvec(&map).unwrap()).unwrap();
        assert_eq!(back, old);
    }
}
