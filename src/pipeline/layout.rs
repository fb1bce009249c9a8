//! Reading order for detected text boxes: a recursive XY-cut that prefers to
//! split text columns (both sides made of long lines) before rows, and keeps
//! tables row by row. Boxes are first taken into the page's deskewed frame.

#[derive(Debug, Clone, Copy)]
pub(crate) struct LayoutBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl LayoutBox {
    fn w(&self) -> f32 {
        self.x1 - self.x0
    }
    fn h(&self) -> f32 {
        self.y1 - self.y0
    }
}

/// Median aspect (width / height) above which a side of a vertical gap counts as
/// running text rather than table cells.
const TEXT_COLUMN_ASPECT: f32 = 15.0;
/// Widest gutter (in line heights) between text columns; wider gaps are table columns.
const MAX_GUTTER_LINES: f32 = 6.0;

/// Groups of box indices: each group is one output line (boxes left to right),
/// groups in reading order.
pub(crate) fn reading_order(boxes: &[LayoutBox]) -> Vec<Vec<usize>> {
    let mut order = Vec::with_capacity(boxes.len());
    let all: Vec<usize> = (0..boxes.len()).collect();
    xy_cut(boxes, all, &mut order, 0);

    // Consecutive boxes on the same row (vertical overlap, left to right) form one line.
    let mut lines: Vec<Vec<usize>> = Vec::new();
    for i in order {
        let b = boxes[i];
        if let Some(last) = lines.last_mut() {
            let p = boxes[*last.last().unwrap_or(&i)];
            let overlap = (p.y1.min(b.y1) - p.y0.max(b.y0)).max(0.0);
            if overlap >= 0.5 * p.h().min(b.h()) && b.x0 >= (p.x0 + p.x1) / 2.0 {
                last.push(i);
                continue;
            }
        }
        lines.push(vec![i]);
    }
    lines
}

fn median(mut v: Vec<f32>) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Gaps along one axis: intervals not covered by any box, as (start, end).
fn gaps(items: &[usize], span: impl Fn(usize) -> (f32, f32)) -> Vec<(f32, f32)> {
    let mut spans: Vec<(f32, f32)> = items.iter().map(|&i| span(i)).collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::new();
    let mut reach = f32::MIN;
    for (s, e) in spans {
        if reach > f32::MIN && s > reach {
            out.push((reach, s));
        }
        reach = reach.max(e);
    }
    out
}

fn xy_cut(boxes: &[LayoutBox], items: Vec<usize>, out: &mut Vec<usize>, depth: usize) {
    if items.len() <= 1 || depth > 256 {
        let mut items = items;
        items.sort_by(|&a, &b| boxes[a].y0.total_cmp(&boxes[b].y0).then(boxes[a].x0.total_cmp(&boxes[b].x0)));
        out.extend(items);
        return;
    }
    let line_h = median(items.iter().map(|&i| boxes[i].h()).collect()).max(1.0);

    let vgaps = gaps(&items, |i| (boxes[i].x0, boxes[i].x1));
    let widest_v = vgaps.iter().copied().max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)));

    // 1. Text columns: a vertical gutter with running text on both sides.
    if let Some((g0, g1)) = widest_v
        && g1 - g0 >= 0.5 * line_h
        && g1 - g0 <= MAX_GUTTER_LINES * line_h
    {
        let cut = (g0 + g1) / 2.0;
        let (left, right): (Vec<usize>, Vec<usize>) = items.iter().partition(|&&i| boxes[i].x1 <= cut);
        let texty = |side: &[usize]| {
            side.len() >= 2 && median(side.iter().map(|&i| boxes[i].w() / boxes[i].h().max(1.0)).collect()) >= TEXT_COLUMN_ASPECT
        };
        if texty(&left) && texty(&right) {
            xy_cut(boxes, left, out, depth + 1);
            xy_cut(boxes, right, out, depth + 1);
            return;
        }
    }

    // 2. Rows: split at the widest horizontal gap.
    let hgaps = gaps(&items, |i| (boxes[i].y0, boxes[i].y1));
    if let Some((g0, g1)) = hgaps.iter().copied().max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0))) {
        let cut = (g0 + g1) / 2.0;
        let (top, bottom): (Vec<usize>, Vec<usize>) = items.iter().partition(|&&i| boxes[i].y1 <= cut);
        xy_cut(boxes, top, out, depth + 1);
        xy_cut(boxes, bottom, out, depth + 1);
        return;
    }

    // 3. One band of boxes: left to right.
    if let Some((g0, g1)) = widest_v {
        let cut = (g0 + g1) / 2.0;
        let (left, right): (Vec<usize>, Vec<usize>) = items.iter().partition(|&&i| boxes[i].x1 <= cut);
        xy_cut(boxes, left, out, depth + 1);
        xy_cut(boxes, right, out, depth + 1);
        return;
    }
    let mut items = items;
    items.sort_by(|&a, &b| boxes[a].y0.total_cmp(&boxes[b].y0).then(boxes[a].x0.total_cmp(&boxes[b].x0)));
    out.extend(items);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x0: f32, y0: f32, x1: f32, y1: f32) -> LayoutBox {
        LayoutBox { x0, y0, x1, y1 }
    }

    #[test]
    fn two_text_columns_read_column_by_column() {
        let mut boxes = vec![b(0.0, 0.0, 1000.0, 30.0)]; // full-width title
        for r in 0..5 {
            let y = 60.0 + r as f32 * 40.0;
            boxes.push(b(0.0, y, 450.0, y + 30.0));
            boxes.push(b(550.0, y, 1000.0, y + 30.0));
        }
        let order: Vec<usize> = reading_order(&boxes).into_iter().flatten().collect();
        assert_eq!(order, vec![0, 1, 3, 5, 7, 9, 2, 4, 6, 8, 10]);
    }

    #[test]
    fn table_rows_read_row_by_row_as_one_line() {
        let mut boxes = Vec::new();
        for r in 0..4 {
            let y = r as f32 * 40.0;
            boxes.push(b(0.0, y, 120.0, y + 30.0));
            boxes.push(b(400.0, y, 520.0, y + 30.0));
            boxes.push(b(900.0, y, 980.0, y + 30.0));
        }
        let lines = reading_order(&boxes);
        assert_eq!(lines, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9, 10, 11]]);
    }
}
