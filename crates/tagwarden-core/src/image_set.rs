//! Image uses grouped by image: the one way every front end gathers them.
//!
//! `check` and `post-render` find image fields in manifests, `scan` and `serve` find
//! containers in a cluster; each then asks about every image once and reports or acts on
//! all the places that use it. [`ImageSet`] does that grouping, for any kind of *use*
//! (a manifest field, a location, a workload's container):
//!
//! - **Identity** is the image *as written* (or any key the caller chooses, such as
//!   `check`'s "not an image string, because…" plus the text). Two spellings of one
//!   normalised reference (`nginx:1.27`, `docker.io/library/nginx:1.27`) stay two
//!   entries: every report names an image as written, a fallback or a rewrite is spelled
//!   as the chart spelled it, and a repair rewrites exactly the fields that hold that
//!   text. The registry is still asked once per normalised question: the client's single
//!   flight and answers in memory are keyed by repository and tag, not by spelling.
//! - **Order** is the order of first use; the uses of an image keep their input order.
//! - **Nothing is lost**: every use added is in exactly one entry.
//!
//! ```
//! use tagwarden_core::image_set::ImageSet;
//!
//! let set: ImageSet<&str> = [("nginx:1.27", "web"), ("redis:7", "cache"), ("nginx:1.27", "api")]
//!     .into_iter()
//!     .map(|(image, at)| (image.to_string(), at))
//!     .collect();
//! let images: Vec<&String> = set.images().collect();
//! assert_eq!(images, ["nginx:1.27", "redis:7"]);
//! assert_eq!(set.get("nginx:1.27").unwrap().uses, ["web", "api"]);
//! ```

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// One image and every use of it, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry<U, K = String> {
    /// The image as written (or the caller's key).
    pub image: K,
    /// Every use, in the order added.
    pub uses: Vec<U>,
}

/// Uses grouped by image, in order of first use. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct ImageSet<U, K = String> {
    entries: Vec<ImageEntry<U, K>>,
    index: HashMap<K, usize>,
}

impl<U, K> Default for ImageSet<U, K> {
    fn default() -> Self {
        ImageSet {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<U, K: Hash + Eq + Clone> ImageSet<U, K> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one use of `image`; its entry's position (a new image comes last).
    pub fn add(&mut self, image: K, image_use: U) -> usize {
        let i = self.entry(image);
        self.entries[i].uses.push(image_use);
        i
    }

    /// The position of `image`'s entry, added (with no uses yet) when new.
    pub fn entry(&mut self, image: K) -> usize {
        if let Some(&i) = self.index.get(&image) {
            return i;
        }
        self.entries.push(ImageEntry {
            image: image.clone(),
            uses: Vec::new(),
        });
        self.index.insert(image, self.entries.len() - 1);
        self.entries.len() - 1
    }

    /// The position of `image`'s entry, if it has one.
    pub fn position<Q>(&self, image: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.index.get(image).copied()
    }

    /// `image`'s entry, if it has one.
    pub fn get<Q>(&self, image: &Q) -> Option<&ImageEntry<U, K>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.position(image).map(|i| &self.entries[i])
    }
}

impl<U, K> ImageSet<U, K> {
    /// How many images.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no use was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in order of first use.
    pub fn entries(&self) -> &[ImageEntry<U, K>] {
        &self.entries
    }

    /// The entries, in order of first use.
    pub fn iter(&self) -> std::slice::Iter<'_, ImageEntry<U, K>> {
        self.entries.iter()
    }

    /// The images, in order of first use.
    pub fn images(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|e| &e.image)
    }

    /// The entries, in order of first use.
    pub fn into_entries(self) -> Vec<ImageEntry<U, K>> {
        self.entries
    }
}

impl<U, K: Hash + Eq + Clone> FromIterator<(K, U)> for ImageSet<U, K> {
    fn from_iter<I: IntoIterator<Item = (K, U)>>(uses: I) -> Self {
        let mut set = ImageSet::new();
        set.extend(uses);
        set
    }
}

impl<U, K: Hash + Eq + Clone> Extend<(K, U)> for ImageSet<U, K> {
    fn extend<I: IntoIterator<Item = (K, U)>>(&mut self, uses: I) {
        for (image, image_use) in uses {
            self.add(image, image_use);
        }
    }
}

impl<U, K> IntoIterator for ImageSet<U, K> {
    type Item = ImageEntry<U, K>;
    type IntoIter = std::vec::IntoIter<ImageEntry<U, K>>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, U, K> IntoIterator for &'a ImageSet<U, K> {
    type Item = &'a ImageEntry<U, K>;
    type IntoIter = std::slice::Iter<'a, ImageEntry<U, K>>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_key_may_be_more_than_the_text() {
        // check: a field that holds no image string is grouped by why, then by its text.
        let mut set: ImageSet<u32, (Option<&str>, &str)> = ImageSet::new();
        set.add((None, "42"), 1);
        set.add((Some("a number"), "42"), 2);
        set.add((None, "42"), 3);
        assert_eq!(set.len(), 2);
        assert_eq!(set.entries()[0].uses, [1, 3]);
        assert_eq!(set.entries()[1].uses, [2]);
    }

    #[test]
    fn an_entry_may_exist_before_its_first_use() {
        let mut set: ImageSet<u32> = ImageSet::new();
        assert_eq!(set.entry("a".to_string()), 0);
        assert_eq!(set.add("b".to_string(), 1), 1);
        assert_eq!(set.add("a".to_string(), 2), 0);
        assert_eq!(set.position("b"), Some(1));
        assert_eq!(set.position("c"), None);
    }

    proptest! {
        /// Whatever the uses, the set holds each of them once, under its own image; the
        /// images come in order of first use and the uses of each in input order.
        #[test]
        fn grouping_is_order_stable_and_loses_no_use(
            images in proptest::collection::vec(0u8..6, 0..60),
        ) {
            let uses: Vec<(String, usize)> = images
                .iter()
                .enumerate()
                .map(|(n, image)| (format!("img{image}"), n))
                .collect();
            let set: ImageSet<usize> = uses.iter().cloned().collect();

            let mut first_seen: Vec<&String> = Vec::new();
            for (image, _) in &uses {
                if !first_seen.contains(&image) {
                    first_seen.push(image);
                }
            }
            prop_assert_eq!(set.images().collect::<Vec<_>>(), first_seen);
            for entry in &set {
                let expected: Vec<usize> = uses
                    .iter()
                    .filter(|(image, _)| *image == entry.image)
                    .map(|(_, n)| *n)
                    .collect();
                prop_assert_eq!(&entry.uses, &expected);
            }
            let mut all: Vec<usize> = set.iter().flat_map(|e| e.uses.iter().copied()).collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..uses.len()).collect::<Vec<_>>());
        }

        /// Adding uses in two goes (as `serve` does, one batch after another) gives the
        /// set that adding them in one go gives.
        #[test]
        fn adding_in_parts_equals_adding_at_once(
            images in proptest::collection::vec(0u8..6, 0..60),
            split in 0usize..60,
        ) {
            let uses: Vec<(String, usize)> = images
                .iter()
                .enumerate()
                .map(|(n, image)| (format!("img{image}"), n))
                .collect();
            let split = split.min(uses.len());
            let at_once: ImageSet<usize> = uses.iter().cloned().collect();
            let mut in_parts: ImageSet<usize> = uses[..split].iter().cloned().collect();
            in_parts.extend(uses[split..].iter().cloned());
            prop_assert_eq!(at_once.entries(), in_parts.entries());
        }
    }
}
