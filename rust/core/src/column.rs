//! A zero-copy view of an Arrow (large_)string array: offsets, data bytes, validity bitmap.

use crate::error::{CoreError, Result};

/// Rows `0..len` of an Arrow string array, borrowed. Validated once on construction.
#[derive(Clone, Copy, Debug)]
pub struct StrColumn<'a> {
    offsets: &'a [i64],
    data: &'a [u8],
    validity: Option<&'a [u8]>,
    validity_offset: usize,
}

impl<'a> StrColumn<'a> {
    /// `offsets` has `len + 1` monotonic entries within `data`; `validity` is an Arrow bitmap
    /// (LSB first, set = valid) whose first row is bit `validity_offset`.
    pub fn new(
        offsets: &'a [i64],
        data: &'a [u8],
        validity: Option<&'a [u8]>,
        validity_offset: usize,
    ) -> Result<Self> {
        if offsets.is_empty() {
            return Err(CoreError::Input("offsets must have at least one entry".into()));
        }
        if offsets[0] < 0 {
            return Err(CoreError::Input("offsets must not be negative".into()));
        }
        if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
            return Err(CoreError::Input(format!("offsets decrease at row {i}")));
        }
        let last = offsets[offsets.len() - 1];
        if last as u64 > data.len() as u64 {
            return Err(CoreError::Input(format!("offsets end at {last} beyond {} data bytes", data.len())));
        }
        let len = offsets.len() - 1;
        if let Some(v) = validity {
            if (v.len() as u128) * 8 < validity_offset as u128 + len as u128 {
                return Err(CoreError::Input("validity bitmap is shorter than the column".into()));
            }
        }
        Ok(StrColumn { offsets, data, validity, validity_offset })
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_valid(&self, i: usize) -> bool {
        match self.validity {
            None => true,
            Some(v) => {
                let bit = self.validity_offset + i;
                v.get(bit / 8).is_some_and(|b| b & (1 << (bit % 8)) != 0)
            }
        }
    }

    /// Row `i`: `None` for null, an error for bytes that are not UTF-8 or `i` out of range.
    pub fn get(&self, i: usize) -> Result<Option<&'a str>> {
        if i >= self.len() {
            return Err(CoreError::Input(format!("row {i} out of range 0..{}", self.len())));
        }
        if !self.is_valid(i) {
            return Ok(None);
        }
        let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        std::str::from_utf8(&self.data[a..b])
            .map(Some)
            .map_err(|e| CoreError::InvalidUtf8 { row: i, byte: e.valid_up_to() })
    }
}

/// An owned column, for tests and benchmarks.
#[derive(Clone, Debug, Default)]
pub struct OwnedStrColumn {
    offsets: Vec<i64>,
    data: Vec<u8>,
    validity: Option<Vec<u8>>,
}

impl OwnedStrColumn {
    pub fn from_strs(rows: &[Option<&str>]) -> Self {
        let mut offsets = vec![0i64];
        let mut data = Vec::new();
        let mut validity = vec![0u8; rows.len().div_ceil(8)];
        for (i, r) in rows.iter().enumerate() {
            if let Some(s) = r {
                data.extend_from_slice(s.as_bytes());
                validity[i / 8] |= 1 << (i % 8);
            }
            offsets.push(data.len() as i64);
        }
        let any_null = rows.iter().any(Option::is_none);
        OwnedStrColumn { offsets, data, validity: any_null.then_some(validity) }
    }

    /// Raw bytes per row (may be invalid UTF-8), all valid.
    pub fn from_bytes(rows: &[&[u8]]) -> Self {
        let mut offsets = vec![0i64];
        let mut data = Vec::new();
        for r in rows {
            data.extend_from_slice(r);
            offsets.push(data.len() as i64);
        }
        OwnedStrColumn { offsets, data, validity: None }
    }

    pub fn view(&self) -> StrColumn<'_> {
        StrColumn {
            offsets: &self.offsets,
            data: &self.data,
            validity: self.validity.as_deref(),
            validity_offset: 0,
        }
    }
}
