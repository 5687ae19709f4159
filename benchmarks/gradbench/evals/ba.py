"""ba: bundle adjustment (ADBench): reprojection errors of p observations through cameras with
Rodrigues rotation and radial distortion, weight errors 1 - w^2, and the sparse Jacobian.

GradBench sends one camera, point, weight and feature and the counts n, m, p; observation
j sees camera j mod n and point j mod m. Every observation is computed (the duplication is
not exploited). The Jacobian block of an observation (2 residuals x 15 parameters: camera,
point, weight) comes from 15 forward-mode passes over all observations at once.
"""

import numpy as np

import s2sad

from . import Function

CAMERA_PARAMETERS = 11


def rotate(rot, X):
    """Rodrigues: rotate the rows of X by the axis-angle rows of rot."""
    sqtheta = np.sum(rot * rot, axis=1)
    small = sqtheta == 0.0
    theta = np.sqrt(np.where(small, 1.0, sqtheta))
    axis = rot / theta[:, None]
    c = np.cos(theta)[:, None]
    s = np.sin(theta)[:, None]
    along = np.sum(axis * X, axis=1)[:, None] * (1.0 - c)
    axis_cross_X = np.stack(
        (
            axis[:, 1] * X[:, 2] - axis[:, 2] * X[:, 1],
            axis[:, 2] * X[:, 0] - axis[:, 0] * X[:, 2],
            axis[:, 0] * X[:, 1] - axis[:, 1] * X[:, 0],
        ),
        axis=1,
    )
    rot_cross_X = np.stack(
        (
            rot[:, 1] * X[:, 2] - rot[:, 2] * X[:, 1],
            rot[:, 2] * X[:, 0] - rot[:, 0] * X[:, 2],
            rot[:, 0] * X[:, 1] - rot[:, 1] * X[:, 0],
        ),
        axis=1,
    )
    rotated = X * c + axis_cross_X * s + axis * along
    return np.where(small[:, None], X + rot_cross_X, rotated)


def reprojection_error(cams, X, w, feats):
    """The 2 residuals of every observation; row j of cams, X, w, feats belongs to observation j."""
    Xcam = rotate(cams[:, 0:3], X - cams[:, 3:6])
    proj = Xcam[:, 0:2] / Xcam[:, 2:3]
    rsq = np.sum(proj * proj, axis=1)[:, None]
    distortion = 1.0 + cams[:, 9:10] * rsq + cams[:, 10:11] * rsq * rsq
    proj = proj * distortion * cams[:, 6:7] + cams[:, 7:9]
    return w[:, None] * (proj - feats)


def weight_error(w):
    return 1.0 - w * w


def _prepare(raw):
    n, m, p = int(raw["n"]), int(raw["m"]), int(raw["p"])
    cams = np.tile(np.array(raw["cam"], dtype=float), (n, 1))
    X = np.tile(np.array(raw["x"], dtype=float), (m, 1))
    w = np.full(p, float(raw["w"]))
    feats = np.tile(np.array(raw["feat"], dtype=float), (p, 1))
    observation = np.arange(p)
    return n, m, p, cams, X, w, feats, observation % n, observation % m


def objective(data):
    n, m, p, cams, X, w, feats, cam_index, point_index = data
    return reprojection_error(cams[cam_index], X[point_index], w, feats), weight_error(w)


def _objective_output(errors):
    reprojection, weights = errors
    return {
        "reproj_error": {"elements": reprojection[0].tolist(), "repeated": reprojection.shape[0]},
        "w_err": {"element": float(weights[0]), "repeated": weights.shape[0]},
    }


def jacobian(data):
    """The Jacobian in compressed sparse rows: row pointers, columns and values."""
    n, m, p, cams, X, w, feats, cam_index, point_index = data
    observed_cams, observed_X = cams[cam_index], X[point_index]
    primals = (observed_cams, observed_X, w, feats)
    blocks = np.empty((p, 2, CAMERA_PARAMETERS + 4))
    for j in range(CAMERA_PARAMETERS + 4):
        tangents = (
            np.zeros_like(observed_cams),
            np.zeros_like(observed_X),
            np.zeros_like(w),
            np.zeros_like(feats),
        )
        if j < CAMERA_PARAMETERS:
            tangents[0][:, j] = 1.0
        elif j < CAMERA_PARAMETERS + 3:
            tangents[1][:, j - CAMERA_PARAMETERS] = 1.0
        else:
            tangents[2][:] = 1.0
        _, blocks[:, :, j] = s2sad.jvp(reprojection_error, primals, tangents)
    _, weight_slopes = s2sad.jvp(weight_error, (w,), (np.ones_like(w),))
    columns = np.concatenate(
        (
            CAMERA_PARAMETERS * cam_index[:, None] + np.arange(CAMERA_PARAMETERS),
            CAMERA_PARAMETERS * n + 3 * point_index[:, None] + np.arange(3),
            (CAMERA_PARAMETERS * n + 3 * m + np.arange(p))[:, None],
        ),
        axis=1,
    )
    block_columns = np.repeat(columns[:, None, :], 2, axis=1)  # the same columns for both residuals
    width = CAMERA_PARAMETERS + 4
    rows = np.concatenate((np.arange(2 * p + 1) * width, 2 * p * width + np.arange(1, p + 1)))
    cols = np.concatenate((block_columns.ravel(), CAMERA_PARAMETERS * n + 3 * m + np.arange(p)))
    vals = np.concatenate((blocks.ravel(), weight_slopes))
    return rows, cols, vals


def _jacobian_output(sparse):
    def first_30_and_last(a):
        return a[:30].tolist() + [a[-1].item()]

    rows, cols, vals = sparse
    return {"rows": first_30_and_last(rows), "cols": first_30_and_last(cols), "vals": first_30_and_last(vals)}


FUNCTIONS = {
    "objective": Function(_prepare, objective, _objective_output),
    "jacobian": Function(_prepare, jacobian, _jacobian_output),
}
