//! A cursor over fuzz input that never fails: past the end, numbers read as
//! zero and byte strings as empty, so every input means something.

pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// The next `len` bytes, or fewer if the input ends first.
    pub fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(len.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }
}

/// `items` cycled to `min(len << exp, cap)` elements: lets a short input
/// stand for the long lists (32,768 suites and more) that a libFuzzer input
/// of a few KB could not spell out. `exp` 0 leaves the list as it is.
pub fn amplify<T: Clone>(items: &mut Vec<T>, exp: u8, cap: usize) {
    if items.is_empty() || exp == 0 {
        return;
    }
    let want = items.len().saturating_mul(1 << exp.min(20)).min(cap);
    let original = items.clone();
    items.extend(
        original
            .iter()
            .cycle()
            .take(want.saturating_sub(original.len()))
            .cloned(),
    );
}
