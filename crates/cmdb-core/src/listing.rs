//! Paged listings: a [`Window`] (start and limit) over documents in id order, and the
//! [`DocPage`] a store answers for it — the page and the count of the whole listing.

use crate::records::Document;

/// Which part of a listing in id order to answer: from the `start`-th item (0-based) on, at
/// most `limit` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// How many items of the listing come before the page.
    pub start: usize,
    /// How many items the page holds at most.
    pub limit: usize,
}

impl Window {
    /// The whole listing.
    pub const ALL: Window = Window {
        start: 0,
        limit: usize::MAX,
    };

    /// The page of `all` (items in listing order) with the count of all of them: what a store
    /// without an indexed read answers.
    pub fn cut(self, all: Vec<Document>) -> DocPage {
        let count = all.len();
        let docs = all.into_iter().skip(self.start).take(self.limit).collect();
        DocPage { count, docs }
    }

    /// The page of `items` (in listing order, counted as they pass), each turned into a
    /// document only when it is on the page: what a store that can count without decoding
    /// answers.
    ///
    /// # Errors
    /// The first error of `to_doc` on an item of the page.
    pub fn cut_with<T, E>(
        self,
        items: impl IntoIterator<Item = T>,
        mut to_doc: impl FnMut(T) -> Result<Document, E>,
    ) -> Result<DocPage, E> {
        let mut count = 0;
        let mut docs = Vec::new();
        for item in items {
            if count >= self.start && docs.len() < self.limit {
                docs.push(to_doc(item)?);
            }
            count += 1;
        }
        Ok(DocPage { count, docs })
    }

    /// The page of `items` (the listing in order), with `known` as the listing's size when the
    /// store keeps it ([`crate::backend::BackendRead::listing_count`]): then the walk stops at
    /// the page's end, so its cost grows with `start + limit`, not with the listing; without
    /// it, [`Window::cut_with`] counts every item.
    ///
    /// # Errors
    /// The first error of `to_doc` on an item of the page.
    pub fn cut_known<T, E>(
        self,
        known: Option<usize>,
        items: impl IntoIterator<Item = T>,
        to_doc: impl FnMut(T) -> Result<Document, E>,
    ) -> Result<DocPage, E> {
        let Some(count) = known else {
            return self.cut_with(items, to_doc);
        };
        let page = items.into_iter().skip(self.start).take(self.limit);
        let docs = page.map(to_doc).collect::<Result<_, E>>()?;
        Ok(DocPage { count, docs })
    }
}

/// A page of documents and the size of the listing it was cut from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocPage {
    /// How many items the whole listing has.
    pub count: usize,
    /// The page's documents, in id order.
    pub docs: Vec<Document>,
}
