//! Tree hashes persisted as C2SP tlog-tiles (FORMAT.md §7).
//!
//! Owns: the `tiles/tile/<L>/<N>` files (full tiles only, height 8), the
//! in-memory right edge of the tree (at most 255 hashes per tile level), a
//! bounded cache of expanded tiles, and the [`NodeSource`] that proofs read.
//! Tiles are derived data: written without fsync, checked against the signed
//! checkpoint on open, and rebuilt from the ledger when missing or wrong.
//! Must not do: read records (the ledger feeds leaf hashes in).

use super::durable;
use super::merkle::{node_hash, NodeSource, ProofError, TreeHash};
use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Tile height: each tile covers 8 tree levels and holds 256 hashes.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Bytes of a full tile.
pub const TILE_BYTES: usize = TILE_WIDTH as usize * 32;
/// Expanded tiles kept in memory (each 511 hashes, ~16 KiB, so at most
/// 64 MiB): enough to keep every tile of a 1,000,000-record ledger warm. A
/// miss costs one 8 KiB read and 255 SHA-256 compressions (~40 µs).
pub const TILE_CACHE_TILES_MAX: usize = 4096;

/// The C2SP path of tile (`level`, `index`), optionally partial of `width`,
/// relative to the log's root: `tile/<L>/<N>[.p/<W>]`, N in 3-digit groups
/// with all but the last prefixed by `x`.
pub fn tile_path(level: u8, index: u64, width: Option<u64>) -> String {
    let digits = format!("{index}");
    let pad = digits.len().div_ceil(3) * 3;
    let digits = format!("{index:0>pad$}");
    let groups: Vec<&str> = (0..digits.len() / 3)
        .map(|i| &digits[i * 3..i * 3 + 3])
        .collect();
    let mut n = String::new();
    for (i, g) in groups.iter().enumerate() {
        if i + 1 < groups.len() {
            n.push('x');
            n.push_str(g);
            n.push('/');
        } else {
            n.push_str(g);
        }
    }
    match width {
        Some(w) if w < TILE_WIDTH => format!("tile/{level}/{n}.p/{w}"),
        _ => format!("tile/{level}/{n}"),
    }
}

/// All levels of one full tile: `levels[s]` holds the 256 >> s hashes at
/// height `s` inside the tile; `levels[8]` is the tile's root.
struct ExpandedTile {
    levels: Vec<Vec<TreeHash>>,
}

impl ExpandedTile {
    fn from_row(row: Vec<TreeHash>) -> ExpandedTile {
        let mut levels = vec![row];
        while levels.last().map_or(0, Vec::len) > 1 {
            let below = levels.last().expect("non-empty");
            let next = below
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        ExpandedTile { levels }
    }
}

/// Bounded FIFO cache of expanded tiles.
#[derive(Default)]
struct TileCache {
    map: HashMap<(u8, u64), Arc<ExpandedTile>>,
    order: VecDeque<(u8, u64)>,
}

/// The persisted tree: full tiles on disk plus the right edge in memory.
pub struct TileStore {
    /// `<data>/tiles`; C2SP paths are relative to it.
    root: PathBuf,
    /// Leaves in the tree.
    size: u64,
    /// `edge[L]`: the hashes at tree level 8L not yet in a full tile (< 256).
    edge: Vec<Vec<TreeHash>>,
    /// Expanded full tiles, shared by concurrent proof readers.
    cache: Mutex<TileCache>,
    /// The simulated disk tile writes run on (tests; `None` in production).
    fault: Option<durable::SyncFault>,
}

fn io_err(path: &Path, e: io::Error) -> ProofError {
    ProofError::NodeUnavailable {
        level: 0,
        index: 0,
        reason: format!("{}: {e}", path.display()),
    }
}

/// How [`TileStore::open_with`] finds the full level-0 tiles present.
#[derive(Clone, Copy)]
enum Probe {
    /// Looks up every tile from the first: stops at the first one missing.
    EveryTile,
    /// Bisects, assuming the tiles present are a prefix.
    Bisect,
}

impl TileStore {
    /// Opens the tile store and restores the state for the longest prefix of
    /// at most `size_max` leaves whose full level-0 tiles are all present;
    /// missing upper-level tiles are recomputed from the level below.
    /// Returns the store; its [`size`](Self::size) says from which leaf the
    /// caller must feed leaf hashes.
    pub fn open(root: &Path, size_max: u64) -> io::Result<TileStore> {
        TileStore::open_with(root, size_max, Probe::EveryTile)
    }

    /// [`open`](Self::open) for the fast and read-only opens: finds the
    /// number of full level-0 tiles by bisection (O(log n) file lookups
    /// instead of one per tile, about 3,900 at 1,000,000 records), trusting
    /// that tiles are written in order so that presence is a prefix. A tile
    /// missing below that prefix is not noticed here; the background
    /// verification of a fast open (`verify.rs`, `TileCheck`) reports it,
    /// and a proof that needs it fails naming the file.
    /// If a tile the bisection trusted cannot be read while the upper
    /// levels are restored, it opens tile by tile instead.
    pub fn open_bisect(root: &Path, size_max: u64) -> io::Result<TileStore> {
        TileStore::open_with(root, size_max, Probe::Bisect)
            .or_else(|_| TileStore::open_with(root, size_max, Probe::EveryTile))
    }

    fn open_with(root: &Path, size_max: u64, probe: Probe) -> io::Result<TileStore> {
        fs::create_dir_all(root)?;
        let mut store = TileStore {
            root: root.to_path_buf(),
            size: 0,
            edge: vec![Vec::new()],
            cache: Mutex::new(TileCache::default()),
            fault: None,
        };
        // Count contiguous full level-0 tiles present (each exactly TILE_BYTES).
        let full0_max = size_max / TILE_WIDTH;
        let full0 = match probe {
            Probe::EveryTile => {
                let mut full0 = 0;
                while full0 < full0_max && store.tile_ok(0, full0) {
                    full0 += 1;
                }
                full0
            }
            // Invariant: tiles below `lo` are present, tile `hi` (if
            // `hi < full0_max`) is not.
            Probe::Bisect => {
                let (mut lo, mut hi) = (0, full0_max);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if store.tile_ok(0, mid) {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            }
        };
        // Upper levels: level L row = roots of level L-1 tiles.
        let mut children = full0; // full tiles at the level below
        let mut level: u8 = 1;
        while children > 0 {
            let full = children / TILE_WIDTH;
            for n in 0..full {
                if !store.tile_ok(level, n) {
                    let row = (0..TILE_WIDTH)
                        .map(|i| {
                            store
                                .read_full(level - 1, n * TILE_WIDTH + i)
                                .map(|t| t.levels[8][0])
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| io::Error::other(e.to_string()))?;
                    store.write_tile(level, n, &row)?;
                }
            }
            let mut row = Vec::new();
            for i in full * TILE_WIDTH..children {
                let t = store
                    .read_full(level - 1, i)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                row.push(t.levels[8][0]);
            }
            if store.edge.len() <= level as usize {
                store.edge.push(Vec::new());
            }
            store.edge[level as usize] = row;
            children = full;
            level += 1;
        }
        store.size = full0 * TILE_WIDTH;
        Ok(store)
    }

    /// Deletes every tile and starts from an empty tree.
    pub fn reset(root: &Path) -> io::Result<TileStore> {
        match fs::remove_dir_all(root.join("tile")) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        TileStore::open(root, 0)
    }

    /// Puts the tile writes on the simulated disk `fault` (tests).
    pub fn set_fault(&mut self, fault: Option<durable::SyncFault>) {
        self.fault = fault;
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn tile_ok(&self, level: u8, index: u64) -> bool {
        fs::metadata(self.root.join(tile_path(level, index, None)))
            .is_ok_and(|m| m.len() == TILE_BYTES as u64)
    }

    fn write_tile(&self, level: u8, index: u64, row: &[TreeHash]) -> io::Result<()> {
        debug_assert_eq!(row.len() as u64, TILE_WIDTH);
        let path = self.root.join(tile_path(level, index, None));
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        durable::write_replace_derived_on(&path, &row.concat(), self.fault.as_ref())
    }

    /// Appends leaf hashes; full tiles are written as they complete.
    pub fn append(&mut self, leaves: &[TreeHash]) -> io::Result<()> {
        for leaf in leaves {
            self.push(0, *leaf)?;
            self.size += 1;
        }
        Ok(())
    }

    fn push(&mut self, level: usize, hash: TreeHash) -> io::Result<()> {
        if self.edge.len() <= level {
            self.edge.push(Vec::new());
        }
        self.edge[level].push(hash);
        if self.edge[level].len() as u64 == TILE_WIDTH {
            let row = std::mem::take(&mut self.edge[level]);
            let index = self.completed_at(level);
            self.write_tile(level as u8, index, &row)?;
            let expanded = ExpandedTile::from_row(row);
            let root = expanded.levels[8][0];
            self.cache_insert((level as u8, index), Arc::new(expanded));
            self.push(level + 1, root)?;
        }
        Ok(())
    }

    /// Index of the tile at `level` that just completed, counted from the
    /// leaves including the leaf being appended.
    fn completed_at(&self, level: usize) -> u64 {
        let leaves = self.size + 1; // the leaf being pushed is not counted yet
        (leaves >> (TILE_HEIGHT as usize * (level + 1))) - 1
    }

    fn cache_insert(&self, key: (u8, u64), tile: Arc<ExpandedTile>) {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.map.insert(key, tile).is_none() {
            c.order.push_back(key);
        }
        while c.order.len() > TILE_CACHE_TILES_MAX {
            if let Some(old) = c.order.pop_front() {
                c.map.remove(&old);
            }
        }
    }

    fn read_full(&self, level: u8, index: u64) -> Result<Arc<ExpandedTile>, ProofError> {
        if let Some(t) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .get(&(level, index))
        {
            return Ok(t.clone());
        }
        let path = self.root.join(tile_path(level, index, None));
        let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
        if bytes.len() != TILE_BYTES {
            return Err(ProofError::NodeUnavailable {
                level: level * TILE_HEIGHT as u8,
                index,
                reason: format!(
                    "{} has {} bytes, expected {TILE_BYTES}",
                    path.display(),
                    bytes.len()
                ),
            });
        }
        let row = bytes
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect();
        let t = Arc::new(ExpandedTile::from_row(row));
        self.cache_insert((level, index), t.clone());
        Ok(t)
    }

    /// The hashes of tile (`level`, `index`) of `width` entries (a full tile
    /// when `width` is 256), as served under its C2SP path, for a tree of the
    /// current size. `None` if the tile does not exist at this size.
    pub fn tile_bytes(
        &self,
        level: u8,
        index: u64,
        width: u64,
    ) -> Result<Option<Vec<u8>>, ProofError> {
        let row_len = self.size >> (TILE_HEIGHT * level as u32);
        let start = index.saturating_mul(TILE_WIDTH);
        if width == 0 || width > TILE_WIDTH || start.saturating_add(width) > row_len {
            return Ok(None);
        }
        if start + TILE_WIDTH <= row_len {
            let t = self.read_full(level, index)?;
            return Ok(Some(t.levels[0][..width as usize].concat()));
        }
        let edge = &self.edge[level as usize];
        Ok(Some(edge[..width as usize].concat()))
    }
}

impl NodeSource for TileStore {
    fn node(&self, level: u8, index: u64) -> Result<TreeHash, ProofError> {
        let unavailable = |reason: &str| ProofError::NodeUnavailable {
            level,
            index,
            reason: reason.to_string(),
        };
        let end = index
            .checked_add(1)
            .and_then(|i| i.checked_shl(level as u32))
            .ok_or_else(|| unavailable("outside the tree"))?;
        if end > self.size {
            return Err(unavailable("outside the tree"));
        }
        let tile_level = level as u32 / TILE_HEIGHT;
        let sub = level as u32 % TILE_HEIGHT;
        let row_start = index << sub; // first entry in row 8L
        let tile_index = row_start / TILE_WIDTH;
        let row_len = self.size >> (TILE_HEIGHT * tile_level);
        if (tile_index + 1) * TILE_WIDTH <= row_len {
            let t = self.read_full(tile_level as u8, tile_index)?;
            let within = ((row_start % TILE_WIDTH) >> sub) as usize;
            return Ok(t.levels[sub as usize][within]);
        }
        // In the right edge: hash up 2^sub entries.
        let edge = self
            .edge
            .get(tile_level as usize)
            .ok_or_else(|| unavailable("edge level missing"))?;
        let from = (row_start % TILE_WIDTH) as usize;
        let count = 1usize << sub;
        let mut row: Vec<TreeHash> = edge
            .get(from..from + count)
            .ok_or_else(|| unavailable("edge too short"))?
            .to_vec();
        while row.len() > 1 {
            row = row
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
        }
        Ok(row[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::merkle::{self, leaf_hash, MemoryTree};

    #[test]
    fn c2sp_tile_paths() {
        let cases = [
            (0, 0, None, "tile/0/000"),
            (0, 5, Some(3), "tile/0/005.p/3"),
            (1, 999, None, "tile/1/999"),
            (0, 1000, None, "tile/0/x001/000"),
            (0, 1234067, None, "tile/0/x001/x234/067"),
            (2, 1234067, Some(255), "tile/2/x001/x234/067.p/255"),
            (0, 7, Some(256), "tile/0/007"),
        ];
        for (l, n, w, want) in cases {
            assert_eq!(tile_path(l, n, w), want);
        }
    }

    /// Every node, root and proof from tiles equals the in-memory reference,
    /// across tile boundaries, after reopening, and with missing tiles rebuilt.
    #[test]
    fn tiles_agree_with_memory_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = 256 * 256 + 3 * 256 + 17;
        let leaves: Vec<TreeHash> = (0..n as u64).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mem = MemoryTree::from_leaf_hashes(leaves.clone());
        let mut store = TileStore::open(dir.path(), 0).expect("open");
        store.append(&leaves[..1000]).expect("append");
        store.append(&leaves[1000..]).expect("append");
        for size in [1u64, 255, 256, 257, 65_536, 65_537, n as u64] {
            assert_eq!(
                merkle::root(&store, size),
                merkle::root(&mem, size),
                "size {size}"
            );
        }
        for index in [0u64, 255, 256, 65_535, 65_536, n as u64 - 1] {
            assert_eq!(
                merkle::inclusion_proof(&store, index, n as u64),
                merkle::inclusion_proof(&mem, index, n as u64)
            );
        }
        assert_eq!(
            merkle::consistency_proof(&store, 300, n as u64),
            merkle::consistency_proof(&mem, 300, n as u64)
        );
        // Reopen: restores to the last full level-0 tile, caller feeds the rest.
        drop(store);
        fs::remove_file(dir.path().join(tile_path(1, 0, None))).expect("remove level-1 tile");
        let mut store = TileStore::open(dir.path(), n as u64).expect("reopen");
        assert_eq!(store.size(), (n as u64 / 256) * 256);
        let from = store.size() as usize;
        store.append(&leaves[from..]).expect("append tail");
        assert_eq!(merkle::root(&store, n as u64), merkle::root(&mem, n as u64));
        assert!(
            dir.path().join(tile_path(1, 0, None)).exists(),
            "level-1 tile rebuilt"
        );
        // Partial tiles served from the edge are prefixes of the next full tile.
        let w = (n % 256) as u64;
        let partial = store
            .tile_bytes(0, n as u64 / 256, w)
            .expect("tile")
            .expect("exists");
        assert_eq!(partial, leaves[n - w as usize..].concat());
    }

    /// The bisecting open finds the same prefix of full level-0 tiles as the
    /// tile-by-tile one: all present, the last ones missing, and a cap below
    /// what is present. A hole below the prefix: where restoring the upper
    /// levels reads the tile, the bisecting open falls back to tile by tile;
    /// where it does not (covered by a full upper tile), only the
    /// tile-by-tile open sees it (the fast open's background check reports
    /// it).
    #[test]
    fn bisecting_open_finds_the_same_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n: u64 = 257 * 256 + 5;
        let leaves: Vec<TreeHash> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut store = TileStore::open(dir.path(), 0).expect("open");
        store.append(&leaves).expect("append");
        drop(store);
        let sizes = |cap: u64| {
            let a = TileStore::open(dir.path(), cap).expect("open").size();
            let b = TileStore::open_bisect(dir.path(), cap)
                .expect("bisect")
                .size();
            (a, b)
        };
        for cap in [0, 255, 256, 257, 10 * 256, n, n + 10_000] {
            let (a, b) = sizes(cap);
            assert_eq!(a, b, "cap {cap}");
            assert_eq!(a, (cap.min(n) / 256) * 256, "cap {cap}");
        }
        fs::remove_file(dir.path().join(tile_path(0, 256, None))).expect("remove");
        assert_eq!(sizes(n), (256 * 256, 256 * 256));
        // Level-0 tile 3 lies under the full level-1 tile 0: only the
        // tile-by-tile open looks at it.
        fs::remove_file(dir.path().join(tile_path(0, 3, None))).expect("remove");
        assert_eq!(
            sizes(n),
            (3 * 256, 256 * 256),
            "bisection trusts the prefix"
        );
        // Without the level-1 tile, restoring it reads tile 3: fall back.
        fs::remove_file(dir.path().join(tile_path(1, 0, None))).expect("remove");
        assert_eq!(sizes(n), (3 * 256, 3 * 256));
    }
}
