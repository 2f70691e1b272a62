//! Image filters the pipeline needs, written for speed on one core: a separable box blur on
//! grey bytes and binary erosion and dilation on 0/1 masks.
//!
//! All work row by row on flat buffers with no allocation beyond one scratch buffer, so the
//! compiler vectorises the inner loops.

// Pixel and vehicle loops index several parallel buffers at once; an index reads best.
#![allow(clippy::needless_range_loop)]

/// Box blur of radius `r` (a `(2r+1)²` window, edges clamped), rounded to bytes.
pub fn box_blur(src: &[u8], width: usize, height: usize, r: usize, out: &mut Vec<u8>, scratch: &mut Vec<u16>) {
    assert_eq!(src.len(), width * height);
    out.resize(width * height, 0);
    if r == 0 {
        out.copy_from_slice(src);
        return;
    }
    scratch.resize(width * height, 0);
    // Horizontal: running sums along each row.
    for y in 0..height {
        let row = &src[y * width..(y + 1) * width];
        let dst = &mut scratch[y * width..(y + 1) * width];
        let at = |i: isize| row[i.clamp(0, width as isize - 1) as usize] as u16;
        let mut sum: u16 = (-(r as isize)..=r as isize).map(at).sum();
        for x in 0..width {
            dst[x] = sum;
            sum = sum + at(x as isize + r as isize + 1) - at(x as isize - r as isize);
        }
    }
    // Vertical: running sums down each column, a whole row at a time.
    let n = ((2 * r + 1) * (2 * r + 1)) as u32;
    let mut acc = vec![0u32; width];
    let row = |y: isize| y.clamp(0, height as isize - 1) as usize * width;
    for dy in -(r as isize)..=r as isize {
        let s = row(dy);
        for (a, &v) in acc.iter_mut().zip(&scratch[s..s + width]) {
            *a += v as u32;
        }
    }
    for y in 0..height {
        let dst = &mut out[y * width..(y + 1) * width];
        for (d, &a) in dst.iter_mut().zip(&acc) {
            *d = ((a + n / 2) / n) as u8;
        }
        let (add, sub) = (row(y as isize + r as isize + 1), row(y as isize - r as isize));
        for x in 0..width {
            acc[x] = acc[x] + scratch[add + x] as u32 - scratch[sub + x] as u32;
        }
    }
}

/// Binary erosion (`min`) or dilation (`max`) with a `(2r+1)²` square, in place.
pub fn morph(mask: &mut [u8], width: usize, height: usize, r: usize, dilate: bool, scratch: &mut Vec<u8>) {
    assert_eq!(mask.len(), width * height);
    scratch.resize(width * height, 0);
    let pick = |a: u8, b: u8| if dilate { a | b } else { a & b };
    // Horizontal: combine whole shifted rows, so the loops vectorise; edges see only the image.
    for y in 0..height {
        let src = &mask[y * width..(y + 1) * width];
        let dst = &mut scratch[y * width..(y + 1) * width];
        dst.copy_from_slice(src);
        for k in 1..=r.min(width - 1) {
            for (d, &s) in dst[..width - k].iter_mut().zip(&src[k..]) {
                *d = pick(*d, s);
            }
            for (d, &s) in dst[k..].iter_mut().zip(&src[..width - k]) {
                *d = pick(*d, s);
            }
        }
    }
    for y in 0..height {
        let dst = &mut mask[y * width..(y + 1) * width];
        dst.fill(if dilate { 0 } else { 1 });
        let (lo, hi) = (y.saturating_sub(r), (y + r).min(height - 1));
        for yy in lo..=hi {
            let src = &scratch[yy * width..(yy + 1) * width];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = pick(*d, s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_flat_images_flat() {
        let src = vec![100u8; 20 * 10];
        let (mut out, mut s) = (Vec::new(), Vec::new());
        box_blur(&src, 20, 10, 2, &mut out, &mut s);
        assert!(out.iter().all(|&v| v == 100));
    }

    #[test]
    fn opening_removes_specks_keeps_squares() {
        let (w, h) = (20, 20);
        let mut m = vec![0u8; w * h];
        m[2 * w + 2] = 1;
        for y in 8..14 {
            for x in 8..14 {
                m[y * w + x] = 1;
            }
        }
        let mut s = Vec::new();
        morph(&mut m, w, h, 1, false, &mut s);
        morph(&mut m, w, h, 1, true, &mut s);
        assert_eq!(m[2 * w + 2], 0);
        assert_eq!(m.iter().map(|&v| v as usize).sum::<usize>(), 36);
    }
}
