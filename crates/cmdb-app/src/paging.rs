//! Paged reads, as bk-cmdb's search APIs page: `start` (default 0) and `limit` (default and
//! at most [`MAX_PAGE`]), with the total `count` beside the page.
//!
//! The store reads the page ([`cmdb_core::ports::SetStore::page`]: a range of an index, and
//! the count), so a page's cost does not grow with the listing.

use cmdb_core::Error;
use cmdb_core::listing::{DocPage, Window};
use cmdb_core::records::Document;
use serde_json::{Value, json};

/// The default and largest page.
pub const MAX_PAGE: usize = 500;

/// Which slice of a listing to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// The index of the first item answered (0-based).
    pub start: usize,
    /// How many items at most (1 ..= [`MAX_PAGE`]).
    pub limit: usize,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            start: 0,
            limit: MAX_PAGE,
        }
    }
}

impl Page {
    /// A page from optional `start` and `limit`: absent means 0 and [`MAX_PAGE`]; a `limit` of
    /// 0 means [`MAX_PAGE`], as bk-cmdb reads an unset limit.
    ///
    /// # Errors
    /// 1199006 `'start'` for a negative start; 1199006 `'limit'` for a negative limit or one
    /// over [`MAX_PAGE`].
    pub fn new(start: Option<i64>, limit: Option<i64>) -> Result<Self, Error> {
        let start = match start {
            None => 0,
            Some(s) => usize::try_from(s).map_err(|_| Error::invalid("start"))?,
        };
        let limit = match limit {
            None | Some(0) => MAX_PAGE,
            Some(l) => usize::try_from(l)
                .ok()
                .filter(|l| *l <= MAX_PAGE)
                .ok_or_else(|| Error::invalid("limit"))?,
        };
        Ok(Page { start, limit })
    }

    /// The store's window of this page.
    pub fn window(self) -> Window {
        Window {
            start: self.start,
            limit: self.limit,
        }
    }
}

/// One page of a listing and the size of the whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// How many items the whole listing has.
    pub count: usize,
    /// The page's items.
    pub info: Vec<Document>,
}

impl From<DocPage> for Listing {
    fn from(page: DocPage) -> Self {
        Listing {
            count: page.count,
            info: page.docs,
        }
    }
}

impl Listing {
    /// `{"count": n, "info": [...]}`, the envelope's `data`.
    pub fn to_value(&self) -> Value {
        json!({"count": self.count, "info": self.info})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(n: i64) -> Vec<Document> {
        (1..=n)
            .map(|i| json!({"id": i}).as_object().cloned().unwrap_or_default())
            .collect()
    }

    #[test]
    fn pages_cut_and_count_the_whole() {
        let page = Page::new(Some(2), Some(2)).unwrap();
        let listing = Listing::from(page.window().cut(docs(5)));
        assert_eq!(listing.count, 5);
        assert_eq!(
            listing.to_value(),
            json!({"count": 5, "info": [{"id": 3}, {"id": 4}]})
        );
        // Past the end: empty, still counted.
        assert_eq!(
            Listing::from(Page::new(Some(9), None).unwrap().window().cut(docs(5))).to_value(),
            json!({"count": 5, "info": []})
        );
        assert_eq!(
            Page::new(None, None)
                .unwrap()
                .window()
                .cut(docs(501))
                .docs
                .len(),
            500
        );
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(Page::new(None, None).unwrap(), Page::default());
        assert_eq!(Page::new(None, Some(0)).unwrap().limit, 500);
        assert_eq!(Page::new(None, Some(500)).unwrap().limit, 500);
        for (start, limit, field) in [
            (Some(-1), None, "start"),
            (None, Some(501), "limit"),
            (None, Some(-1), "limit"),
        ] {
            assert_eq!(Page::new(start, limit).unwrap_err(), Error::invalid(field));
        }
    }
}
