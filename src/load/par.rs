//! Spreading independent jobs of a load over the cores.
//!
//! Loading has a few fork-join points (the prefix maps of a thousand load balancers, say),
//! each a list of independent jobs of uneven size. Scoped threads pulling the next job from an
//! atomic counter balance them well enough and need no pool that outlives the load; rayon
//! would do the same with a work-stealing pool of threads idling for the life of the server,
//! and five more crates.

use std::sync::atomic::{AtomicUsize, Ordering};

/// How many threads a load may use: the CPUs this process may run on.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `items.iter().map(f).collect()`, with the calls spread over [`threads`] scoped threads.
/// Items are taken in order, so put the biggest jobs first. A panic in `f` is re-raised here.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads().min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let done: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            break;
                        };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut out: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for (i, r) in done.into_iter().flatten() {
        out[i] = Some(r);
    }
    out.into_iter().map(|r| r.expect("every job ran")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn map_keeps_order_and_runs_everything() {
        let items: Vec<u64> = (0..1000).collect();
        let out = super::map(&items, |&x| x * x);
        assert_eq!(out, items.iter().map(|x| x * x).collect::<Vec<_>>());
        assert!(super::map(&[] as &[u8], |&x| x).is_empty());
    }

    #[test]
    #[should_panic(expected = "job 7")]
    fn a_panic_reaches_the_caller() {
        let items: Vec<u32> = (0..16).collect();
        super::map(&items, |&x| assert!(x != 7, "job {x}"));
    }
}
