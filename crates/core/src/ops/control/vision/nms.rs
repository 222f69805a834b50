//! `NonMaxSuppression`: greedy per-class box selection by score with IoU suppression.

use crate::ops::control::common::{check_attrs, float_data, scalar_f64, scalar_i64};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Selects boxes per batch and class; output `[num_selected, 3]` int64 rows
/// `(batch, class, box)`.
#[derive(Debug)]
pub struct NonMaxSuppression {
    center_point_box: bool,
}

/// Build from `center_point_box` (0: corners `[y1, x1, y2, x2]`, 1: `[xc, yc, w, h]`).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["center_point_box"])?;
    let center_point_box = match ctx.attrs.int_or("center_point_box", 0)? {
        0 => false,
        1 => true,
        _ => return Err(Error::attr("center_point_box", "must be 0 or 1")),
    };
    Ok(Box::new(NonMaxSuppression { center_point_box }))
}

/// A box as (y_min, x_min, y_max, x_max).
fn corners(b: &[f64], center: bool) -> [f64; 4] {
    if center {
        let (xc, yc, w, h) = (b[0], b[1], b[2] / 2.0, b[3] / 2.0);
        [yc - h, xc - w, yc + h, xc + w]
    } else {
        [
            b[0].min(b[2]),
            b[1].min(b[3]),
            b[0].max(b[2]),
            b[1].max(b[3]),
        ]
    }
}

fn suppresses(a: &[f64; 4], b: &[f64; 4], threshold: f64) -> bool {
    let ix = a[3].min(b[3]) - a[1].max(b[1]);
    let iy = a[2].min(b[2]) - a[0].max(b[0]);
    if ix <= 0.0 || iy <= 0.0 {
        return false;
    }
    let inter = ix * iy;
    let area = |c: &[f64; 4]| (c[2] - c[0]) * (c[3] - c[1]);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 {
        return false;
    }
    inter / union > threshold
}

impl Op for NonMaxSuppression {
    fn op_type(&self) -> &str {
        "NonMaxSuppression"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let boxes = input(inputs, 0)?;
        let scores = input(inputs, 1)?;
        let &[nb, nbox, 4] = boxes.shape() else {
            return Err(Error::shape(format!(
                "boxes must be [batch, boxes, 4], got {:?}",
                boxes.shape()
            )));
        };
        let &[sb, nclass, sbox] = scores.shape() else {
            return Err(Error::shape(format!(
                "scores must be [batch, classes, boxes], got {:?}",
                scores.shape()
            )));
        };
        if sb != nb || sbox != nbox {
            return Err(Error::shape(
                "boxes and scores disagree on batch or box count",
            ));
        }
        let max_out = match opt_input(inputs, 2) {
            Some(t) if !t.is_empty() => {
                scalar_i64(t, "max_output_boxes_per_class")?.max(0) as usize
            }
            _ => 0,
        };
        let iou = match opt_input(inputs, 3) {
            Some(t) if !t.is_empty() => scalar_f64(t, "iou_threshold")?,
            _ => 0.0,
        };
        let score_min = match opt_input(inputs, 4) {
            Some(t) if !t.is_empty() => Some(scalar_f64(t, "score_threshold")?),
            _ => None,
        };
        let bx = float_data(boxes, "boxes")?;
        let sc = float_data(scores, "scores")?;
        let mut out: Vec<i64> = Vec::new();
        if max_out > 0 {
            for b in 0..nb {
                let cs: Vec<[f64; 4]> = (0..nbox)
                    .map(|i| {
                        corners(
                            &bx[(b * nbox + i) * 4..(b * nbox + i + 1) * 4],
                            self.center_point_box,
                        )
                    })
                    .collect();
                for c in 0..nclass {
                    let s = &sc[(b * nclass + c) * nbox..(b * nclass + c + 1) * nbox];
                    let mut cand: Vec<usize> = (0..nbox)
                        .filter(|&i| score_min.is_none_or(|m| s[i] > m))
                        .collect();
                    cand.sort_by(|&i, &j| s[j].total_cmp(&s[i]).then(i.cmp(&j)));
                    let mut kept: Vec<usize> = Vec::new();
                    for i in cand {
                        if kept.len() >= max_out {
                            break;
                        }
                        if kept.iter().all(|&k| !suppresses(&cs[k], &cs[i], iou)) {
                            kept.push(i);
                            out.extend([b as i64, c as i64, i as i64]);
                        }
                    }
                }
            }
        }
        let n = out.len() / 3;
        Ok(vec![(Tensor::from_vec(&[n, 3], out)?)])
    }
}
