//! Connected components of a binary mask (8-connected), by runs.
//!
//! Each row's foreground is cut into runs; a run joins every run of the row above that touches
//! it, diagonals included, through a union–find over runs. A blob's statistics (box, area, the
//! runs it owns) come out of one pass over the runs, so the cost follows the foreground, not the
//! image.

// Pixel and vehicle loops index several parallel buffers at once; an index reads best.
#![allow(clippy::needless_range_loop)]

use crate::geom::BBox;

/// One horizontal run of foreground: row, columns `x0..x1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Row.
    pub y: u32,
    /// First column.
    pub x0: u32,
    /// One past the last column.
    pub x1: u32,
}

/// A connected component.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Its bounding box.
    pub bbox: BBox,
    /// Its pixel count.
    pub area: u64,
    /// Its runs, in row order.
    pub runs: Vec<Run>,
}

impl Component {
    /// Its widest row's span (first to last pixel) as a share of its box's width. A vehicle
    /// spans its box in some row; a chain of cones along a lane's edge, which the closing joins
    /// far away into one vehicle-sized box, runs diagonally across it.
    pub fn widest_row_share(&self) -> f64 {
        let span =
            |row: &[Run]| row.iter().map(|r| r.x1).max().unwrap_or(0) - row.iter().map(|r| r.x0).min().unwrap_or(0);
        let widest = self.runs.chunk_by(|a, b| a.y == b.y).map(span).max().unwrap_or(0);
        f64::from(widest) / f64::from(self.bbox.w.max(1))
    }
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        parent[i as usize] = parent[parent[i as usize] as usize];
        i = parent[i as usize];
    }
    i
}

/// The components of a 0/1 mask, in order of their first run (top to bottom, left to right).
pub fn components(mask: &[u8], width: usize, height: usize) -> Vec<Component> {
    let mut runs: Vec<Run> = Vec::new();
    let mut row_start = Vec::with_capacity(height + 1);
    for y in 0..height {
        row_start.push(runs.len());
        let row = &mask[y * width..(y + 1) * width];
        let mut x = 0;
        while x < width {
            if row[x] == 0 {
                x += 1;
                continue;
            }
            let s = x;
            while x < width && row[x] != 0 {
                x += 1;
            }
            runs.push(Run { y: y as u32, x0: s as u32, x1: x as u32 });
        }
    }
    row_start.push(runs.len());
    let mut parent: Vec<u32> = (0..runs.len() as u32).collect();
    for y in 1..height {
        let (mut a, a_end) = (row_start[y - 1], row_start[y]);
        for b in row_start[y]..row_start[y + 1] {
            let rb = runs[b];
            while a < a_end && runs[a].x1 < rb.x0 {
                a += 1;
            }
            let mut k = a;
            while k < a_end && runs[k].x0 <= rb.x1 {
                let (ra, rb2) = (find(&mut parent, k as u32), find(&mut parent, b as u32));
                if ra != rb2 {
                    parent[ra.max(rb2) as usize] = ra.min(rb2);
                }
                k += 1;
            }
        }
    }
    let mut index = vec![u32::MAX; runs.len()];
    let mut out: Vec<Component> = Vec::new();
    for i in 0..runs.len() {
        let root = find(&mut parent, i as u32) as usize;
        if index[root] == u32::MAX {
            index[root] = out.len() as u32;
            out.push(Component { bbox: BBox { x: u32::MAX, y: u32::MAX, w: 0, h: 0 }, area: 0, runs: Vec::new() });
        }
        let c = &mut out[index[root] as usize];
        c.runs.push(runs[i]);
        c.area += (runs[i].x1 - runs[i].x0) as u64;
    }
    for c in &mut out {
        c.bbox = bbox_of(&c.runs);
    }
    out
}

/// The box around some runs (which must not be empty).
pub fn bbox_of(runs: &[Run]) -> BBox {
    let x0 = runs.iter().map(|r| r.x0).min().unwrap_or(0);
    let x1 = runs.iter().map(|r| r.x1).max().unwrap_or(1);
    let y0 = runs.iter().map(|r| r.y).min().unwrap_or(0);
    let y1 = runs.iter().map(|r| r.y).max().unwrap_or(0) + 1;
    BBox { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_two_blobs_and_joins_diagonals() {
        #[rustfmt::skip]
        let m = [
            1, 1, 0, 0, 0,
            0, 0, 1, 0, 1,
            0, 0, 0, 0, 1,
        ];
        let c = components(&m, 5, 3);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].area, c[0].bbox), (3, BBox { x: 0, y: 0, w: 3, h: 2 }));
        assert_eq!((c[1].area, c[1].bbox), (2, BBox { x: 4, y: 1, w: 1, h: 2 }));
    }

    #[test]
    fn a_box_is_spanned_by_a_row_and_a_diagonal_chain_is_not() {
        #[rustfmt::skip]
        let solid = [
            0, 1, 1, 1, 1, 1, 0,
            1, 1, 1, 1, 1, 1, 1,
            0, 1, 1, 0, 1, 1, 0,
        ];
        #[rustfmt::skip]
        let chain = [
            0, 0, 0, 0, 0, 1, 1,
            0, 0, 0, 1, 1, 1, 0,
            0, 1, 1, 1, 0, 0, 0,
            1, 1, 0, 0, 0, 0, 0,
        ];
        assert_eq!(components(&solid, 7, 3)[0].widest_row_share(), 1.0);
        assert_eq!(components(&chain, 7, 4)[0].widest_row_share(), 3.0 / 7.0);
    }
}
