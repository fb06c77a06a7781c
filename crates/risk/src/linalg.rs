//! Small dense symmetric matrices (row-major `Vec<f64>`, n ≤ a few hundred): cyclic Jacobi
//! eigen-decomposition, nearest-correlation repair by eigenvalue clipping, Cholesky.

use crate::RiskError;

/// Eigenvalues and eigenvectors (columns of `v`, row-major) of a symmetric matrix by cyclic
/// Jacobi rotations, to off-diagonal norm ≤ 1e-14 of the Frobenius norm.
pub fn jacobi_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut m = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let norm: f64 = m
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j] * m[i * n + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-14 * norm {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let mkp = m[k * n + p];
                    let mkq = m[k * n + q];
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let mpk = m[p * n + k];
                    let mqk = m[q * n + k];
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| m[i * n + i]).collect(), v)
}

/// The correlation matrix itself when positive definite; otherwise the matrix rebuilt from its
/// eigen-decomposition with eigenvalues clipped at `floor` (1e-8) and rescaled to a unit
/// diagonal. Returns the matrix and whether it was repaired.
///
/// # Errors
/// A non-square, non-symmetric or non-finite input, or a diagonal that is not 1.
pub fn nearest_correlation(c: &[f64], n: usize) -> Result<(Vec<f64>, bool), RiskError> {
    if c.len() != n * n {
        return Err(RiskError::Input(format!(
            "correlation matrix has {} entries, expected {n}×{n}",
            c.len()
        )));
    }
    for i in 0..n {
        if (c[i * n + i] - 1.0).abs() > 1e-12 {
            return Err(RiskError::Input(format!(
                "correlation diagonal entry {i} is {}, not 1",
                c[i * n + i]
            )));
        }
        for j in 0..n {
            let x = c[i * n + j];
            if !x.is_finite() || (x - c[j * n + i]).abs() > 1e-12 || x.abs() > 1.0 + 1e-12 {
                return Err(RiskError::Input(format!(
                    "correlation entry ({i}, {j}) = {x} is not a symmetric value in [-1, 1]"
                )));
            }
        }
    }
    if cholesky(c, n).is_ok() {
        return Ok((c.to_vec(), false));
    }
    let (w, v) = jacobi_eigen(c, n);
    let floor = 1e-8;
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = (0..n)
                .map(|k| v[i * n + k] * w[k].max(floor) * v[j * n + k])
                .sum();
        }
    }
    let d: Vec<f64> = (0..n).map(|i| out[i * n + i].sqrt()).collect();
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] /= d[i] * d[j];
        }
        out[i * n + i] = 1.0;
    }
    Ok((out, true))
}

/// Lower-triangular `L` with `L·Lᵀ = a` (row-major).
///
/// # Errors
/// The matrix is not positive definite (a pivot ≤ 0), naming the row.
pub fn cholesky(a: &[f64], n: usize) -> Result<Vec<f64>, RiskError> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if d <= 0.0 || !d.is_finite() {
                    return Err(RiskError::Input(format!(
                        "matrix is not positive definite (pivot {d:e} at row {i})"
                    )));
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_reproduces_the_matrix() {
        let a = [1.0, 0.5, 0.2, 0.5, 1.0, 0.3, 0.2, 0.3, 1.0];
        let l = cholesky(&a, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|k| l[i * 3 + k] * l[j * 3 + k]).sum();
                assert!((s - a[i * 3 + j]).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn singular_and_indefinite_matrices_are_repaired() {
        // Perfectly correlated pair (singular) and an impossible triple (indefinite).
        for (c, n) in [
            (vec![1.0, 1.0, 1.0, 1.0], 2),
            (vec![1.0, 0.9, -0.9, 0.9, 1.0, 0.9, -0.9, 0.9, 1.0], 3),
        ] {
            assert!(cholesky(&c, n).is_err());
            let (r, repaired) = nearest_correlation(&c, n).unwrap();
            assert!(repaired);
            assert!(cholesky(&r, n).is_ok());
            for i in 0..n {
                assert_eq!(r[i * n + i], 1.0);
                for j in 0..n {
                    assert!((r[i * n + j] - c[i * n + j]).abs() < 0.6);
                }
            }
        }
        let (w, _) = jacobi_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        let mut w = w;
        w.sort_by(f64::total_cmp);
        assert!((w[0] - 1.0).abs() < 1e-14 && (w[1] - 3.0).abs() < 1e-14);
        assert!(nearest_correlation(&[1.0, 2.0, 2.0, 1.0], 2).is_err());
        assert!(nearest_correlation(&[1.0, 0.1, 0.2, 1.0], 2).is_err());
    }
}
