//! One invocation's lines below the level, kept in case the invocation fails.

use std::collections::VecDeque;

/// Formatted lines in the order they were logged, at most `max_bytes` of them: a line that
/// does not fit pushes the oldest out, and the lines pushed out are counted.
#[derive(Debug)]
pub(crate) struct LogBuffer {
    lines: VecDeque<Box<[u8]>>,
    bytes: usize,
    max_bytes: usize,
    dropped: usize,
    /// The invocation's ids, for the line that reports dropped lines.
    pub(crate) ids: InvocationIds,
}

/// The ids every line of an invocation carries.
#[derive(Debug, Default)]
pub(crate) struct InvocationIds {
    pub(crate) request_id: Box<str>,
    pub(crate) correlation_id: Box<str>,
}

impl LogBuffer {
    /// An empty buffer (nothing allocated for lines until the first one).
    pub(crate) fn new(max_bytes: usize, ids: InvocationIds) -> Self {
        Self {
            lines: VecDeque::new(),
            bytes: 0,
            max_bytes,
            dropped: 0,
            ids,
        }
    }

    /// Keeps `line`, dropping the oldest lines it does not fit beside. A line longer than the
    /// whole buffer is dropped itself.
    pub(crate) fn push(&mut self, line: &[u8]) {
        if line.len() > self.max_bytes {
            self.dropped += 1;
            return;
        }
        while self.bytes + line.len() > self.max_bytes {
            let Some(oldest) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= oldest.len();
            self.dropped += 1;
        }
        self.bytes += line.len();
        self.lines.push_back(line.into());
    }

    /// Everything kept and the count of lines dropped, in logging order; the buffer is empty
    /// afterwards and keeps its bound.
    pub(crate) fn take(&mut self) -> (VecDeque<Box<[u8]>>, usize) {
        self.bytes = 0;
        (
            std::mem::take(&mut self.lines),
            std::mem::take(&mut self.dropped),
        )
    }

    /// A buffer holding what this one held; this one is left empty, with the same bound.
    pub(crate) fn move_out(&mut self) -> Self {
        std::mem::replace(self, Self::new(self.max_bytes, InvocationIds::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(buffer: &mut LogBuffer) -> (Vec<String>, usize) {
        let (lines, dropped) = buffer.take();
        let lines = lines
            .iter()
            .map(|line| String::from_utf8(line.to_vec()).unwrap())
            .collect();
        (lines, dropped)
    }

    #[test]
    fn the_oldest_lines_go_first_and_are_counted() {
        let mut buffer = LogBuffer::new(10, InvocationIds::default());
        for line in ["aaaa", "bbbb", "cc"] {
            buffer.push(line.as_bytes());
        }
        // 10 bytes exactly: everything fits.
        assert_eq!(
            contents(&mut buffer),
            (vec!["aaaa".into(), "bbbb".into(), "cc".into()], 0)
        );
        for line in ["aaaa", "bbbb", "cc", "ddd"] {
            buffer.push(line.as_bytes());
        }
        assert_eq!(
            contents(&mut buffer),
            (vec!["bbbb".into(), "cc".into(), "ddd".into()], 1)
        );
        // Longer than the whole buffer: dropped, the rest kept.
        buffer.push(b"keep");
        buffer.push(b"eleven byte");
        assert_eq!(contents(&mut buffer), (vec!["keep".into()], 1));
        // Taken: empty, the count reset, the bound kept.
        assert_eq!(contents(&mut buffer), (vec![], 0));
        for _ in 0..25 {
            buffer.push(b"12345");
        }
        assert_eq!(
            contents(&mut buffer),
            (vec!["12345".into(), "12345".into()], 23)
        );
    }

    #[test]
    fn moving_out_leaves_an_empty_buffer_with_the_same_bound() {
        let mut buffer = LogBuffer::new(4, InvocationIds::default());
        buffer.push(b"ab");
        let mut moved = buffer.move_out();
        assert_eq!(contents(&mut buffer), (vec![], 0));
        assert_eq!(contents(&mut moved), (vec!["ab".into()], 0));
        buffer.push(b"abcde");
        assert_eq!(contents(&mut buffer), (vec![], 1));
    }
}
