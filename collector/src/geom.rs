//! Small plane geometry shared by the renderer, the analyzer and the scoring: boxes, their
//! overlap, and filling a convex polygon row by row.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An axis-aligned pixel box: columns `x..x+w`, rows `y..y+h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BBox {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels (≥ 1).
    pub w: u32,
    /// Height in pixels (≥ 1).
    pub h: u32,
}

impl BBox {
    /// Area in pixels.
    pub fn area(&self) -> u64 {
        self.w as u64 * self.h as u64
    }

    /// Intersection over union with another box, 0..=1.
    pub fn iou(&self, other: &BBox) -> f64 {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.w).min(other.x + other.w);
        let y1 = (self.y + self.h).min(other.y + other.h);
        if x1 <= x0 || y1 <= y0 {
            return 0.0;
        }
        let inter = (x1 - x0) as f64 * (y1 - y0) as f64;
        inter / (self.area() as f64 + other.area() as f64 - inter)
    }

    /// The bottom-centre point (a vehicle's foot on the road), in pixel coordinates.
    pub fn foot(&self) -> (f64, f64) {
        (self.x as f64 + self.w as f64 / 2.0, (self.y + self.h) as f64)
    }
}

impl fmt::Display for BBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}+{}+{}", self.w, self.h, self.x, self.y)
    }
}

/// The convex hull of a few points (monotone chain), counter-clockwise in image coordinates.
pub fn convex_hull(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = points.to_vec();
    p.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if p.len() < 3 {
        return p;
    }
    let cross = |o: (f64, f64), a: (f64, f64), b: (f64, f64)| (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0);
    let mut hull: Vec<(f64, f64)> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &(f64, f64)>> =
            if pass == 0 { Box::new(p.iter()) } else { Box::new(p.iter().rev()) };
        for &pt in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], pt) <= 0.0 {
                hull.pop();
            }
            hull.push(pt);
        }
        hull.pop();
    }
    hull
}

/// Calls `span(row, x0, x1)` for each image row crossed by a convex polygon, with the columns
/// `x0..x1` whose pixel centres lie inside it, clipped to a `width` × `height` image.
pub fn fill_convex(poly: &[(f64, f64)], width: u32, height: u32, mut span: impl FnMut(u32, u32, u32)) {
    if poly.len() < 3 {
        return;
    }
    let ymin = poly.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let ymax = poly.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let r0 = (ymin - 0.5).ceil().max(0.0) as i64;
    let r1 = ((ymax - 0.5).floor() as i64).min(height as i64 - 1);
    for row in r0..=r1 {
        let yc = row as f64 + 0.5;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for i in 0..poly.len() {
            let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
            if (a.1 <= yc && b.1 >= yc) || (b.1 <= yc && a.1 >= yc) {
                let x =
                    if (b.1 - a.1).abs() < 1e-12 { a.0.min(b.0) } else { a.0 + (yc - a.1) * (b.0 - a.0) / (b.1 - a.1) };
                let x2 = if (b.1 - a.1).abs() < 1e-12 { a.0.max(b.0) } else { x };
                lo = lo.min(x);
                hi = hi.max(x2);
            }
        }
        if lo > hi {
            continue;
        }
        let x0 = (lo - 0.5).ceil().max(0.0) as i64;
        let x1 = ((hi - 0.5).floor() as i64 + 1).min(width as i64);
        if x1 > x0 {
            span(row as u32, x0 as u32, x1 as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_boxes() {
        let a = BBox { x: 0, y: 0, w: 10, h: 10 };
        assert_eq!(a.iou(&a), 1.0);
        let b = BBox { x: 5, y: 0, w: 10, h: 10 };
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-12);
        assert_eq!(a.iou(&BBox { x: 20, y: 20, w: 1, h: 1 }), 0.0);
    }

    #[test]
    fn fills_a_square() {
        let hull = convex_hull(&[(1.0, 1.0), (5.0, 1.0), (5.0, 5.0), (1.0, 5.0), (3.0, 3.0)]);
        assert_eq!(hull.len(), 4);
        let mut n = 0;
        fill_convex(&hull, 100, 100, |_, a, b| n += b - a);
        assert_eq!(n, 16);
    }
}
