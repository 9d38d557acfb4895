//! Which record may start next: records of one ordering key form a lane that runs in arrival
//! order, one record at a time; lanes are independent.
//!
//! A lane is a singly linked list through record positions, and the ready set holds the first
//! unfinished record of every lane that has nothing running, earliest arrival first. Building
//! it costs two vectors per batch and, for keyed sources, a transient map of keys; nothing is
//! allocated per record while the batch runs.

use std::{cmp::Reverse, collections::BinaryHeap, collections::HashMap, hash::Hash};

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Link {
    /// The next record of the same lane, or `NONE`.
    next: u32,
    /// Whether the record has an ordering key (a failure can stop others).
    ordered: bool,
}

/// The lanes of one batch.
#[derive(Debug)]
pub(crate) struct Schedule {
    links: Vec<Link>,
    ready: BinaryHeap<Reverse<u32>>,
}

impl Schedule {
    /// Lanes for records with these ordering keys, in arrival order.
    pub(crate) fn new<K: Hash + Eq>(keys: impl ExactSizeIterator<Item = Option<K>>) -> Self {
        let len = keys.len();
        assert!(
            u32::try_from(len).is_ok_and(|n| n < NONE),
            "a batch of {len} records is larger than Lambda sends"
        );
        let mut links = Vec::with_capacity(len);
        let mut heads = Vec::new();
        // Last record seen per key. Standard SQS (no keys) never inserts, so never allocates.
        let mut tails: HashMap<K, u32> = HashMap::new();
        for (position, key) in (0u32..).zip(keys) {
            links.push(Link {
                next: NONE,
                ordered: key.is_some(),
            });
            match key {
                None => heads.push(Reverse(position)),
                Some(key) => match tails.get_mut(&key) {
                    Some(tail) => {
                        links[*tail as usize].next = position;
                        *tail = position;
                    }
                    None => {
                        tails.insert(key, position);
                        heads.push(Reverse(position));
                    }
                },
            }
        }
        Self {
            links,
            ready: BinaryHeap::from(heads),
        }
    }

    /// The earliest-arrived record that may start now.
    pub(crate) fn peek(&self) -> Option<usize> {
        self.ready
            .peek()
            .map(|Reverse(position)| *position as usize)
    }

    /// Takes the record [`peek`](Self::peek) returned.
    pub(crate) fn pop(&mut self) -> Option<usize> {
        self.ready.pop().map(|Reverse(position)| position as usize)
    }

    /// Whether nothing can start (every lane is running or finished).
    pub(crate) fn is_idle(&self) -> bool {
        self.ready.is_empty()
    }

    /// Whether `position` has an ordering key.
    pub(crate) fn is_ordered(&self, position: usize) -> bool {
        self.links[position].ordered
    }

    /// `position` succeeded: the next record of its lane may start.
    pub(crate) fn release(&mut self, position: usize) {
        let next = self.links[position].next;
        if next != NONE {
            self.ready.push(Reverse(next));
        }
    }

    /// The records after `position` in its lane, in arrival order. They have not started: a
    /// lane runs one record at a time and `position` has just finished.
    pub(crate) fn rest_of_lane(&self, position: usize) -> impl Iterator<Item = usize> + '_ {
        let mut next = self.links[position].next;
        std::iter::from_fn(move || {
            (next != NONE).then(|| {
                let current = next as usize;
                next = self.links[current].next;
                current
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(keys: &[Option<&'static str>]) -> Schedule {
        Schedule::new(keys.iter().copied())
    }

    #[test]
    fn unkeyed_records_are_all_ready_in_arrival_order() {
        let mut plan = schedule(&[None, None, None]);
        assert_eq!(
            std::iter::from_fn(|| plan.pop()).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(!plan.is_ordered(1));
    }

    #[test]
    fn a_lane_releases_one_record_at_a_time() {
        //                 0          1          2     3          4
        let mut plan = schedule(&[Some("a"), Some("b"), None, Some("a"), Some("a")]);
        assert_eq!(plan.pop(), Some(0));
        assert_eq!(plan.pop(), Some(1));
        assert_eq!(plan.pop(), Some(2));
        assert!(plan.is_idle());
        assert_eq!(plan.rest_of_lane(0).collect::<Vec<_>>(), [3, 4]);
        plan.release(1); // lane b has nothing more
        assert!(plan.is_idle());
        plan.release(0);
        assert_eq!(plan.peek(), Some(3));
        assert_eq!(plan.pop(), Some(3));
        plan.release(3);
        assert_eq!(plan.pop(), Some(4));
        plan.release(4);
        assert!(plan.is_idle());
        assert!(plan.is_ordered(4));
    }

    #[test]
    fn released_lanes_queue_behind_earlier_arrivals() {
        let mut plan = schedule(&[Some("a"), Some("a"), None, None]);
        assert_eq!(plan.pop(), Some(0));
        plan.release(0);
        // Record 1 arrived before 2 and 3, so it goes first.
        assert_eq!(
            std::iter::from_fn(|| plan.pop()).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }
}
