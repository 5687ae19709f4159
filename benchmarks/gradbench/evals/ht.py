"""ht: hand tracking (ADBench): a skinned hand model posed by 26 angles, compared with observed
points; the residuals and their Jacobian.

The pose: a global rotation (axis-angle) and translation, then per finger three joints, the
first with two angles; each bone's rotation from Euler angles (x, z, y order in the pose
columns), chained from parent to child, applied to the rest-pose vertices weighted by bone
(linear blend skinning). In the "complicated" variant each point is matched to a point
inside a triangle, at barycentric coordinates `us` that are differentiated too.
The Jacobian is vector forward mode (jacfwd) w.r.t. theta and a shift of every point's u: each
residual depends on its own point's u only, so the us columns come compressed.
"""

import numpy as np

import s2sad

from . import Function


def angle_axis_to_rotation(angle_axis):
    norm = np.sqrt(np.sum(angle_axis * angle_axis))
    if norm < 0.0001:
        return np.eye(3)
    x = angle_axis[0] / norm
    y = angle_axis[1] / norm
    z = angle_axis[2] / norm
    s = np.sin(norm)
    c = np.cos(norm)
    return np.array(
        [
            [x * x + (1 - x * x) * c, x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
            [x * y * (1 - c) + z * s, y * y + (1 - y * y) * c, y * z * (1 - c) - x * s],
            [x * z * (1 - c) - y * s, z * y * (1 - c) + x * s, z * z + (1 - z * z) * c],
        ]
    )


def euler_to_rotation(angles):
    tx, tz, ty = angles[0], angles[1], angles[2]
    Rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(tx), -np.sin(tx)], [0.0, np.sin(tx), np.cos(tx)]])
    Ry = np.array([[np.cos(ty), 0.0, np.sin(ty)], [0.0, 1.0, 0.0], [-np.sin(ty), 0.0, np.cos(ty)]])
    Rz = np.array([[np.cos(tz), -np.sin(tz), 0.0], [np.sin(tz), np.cos(tz), 0.0], [0.0, 0.0, 1.0]])
    return Rz @ Ry @ Rx


def pose_angles(theta, bone_count):
    """The 3 x (bones + 3) pose: global rotation, scale (ones), translation, then the joint angles."""
    pose = np.zeros((3, bone_count + 3))
    pose[:, 0] = theta[0:3]
    pose[:, 1] = 1.0
    pose[:, 2] = theta[3:6]
    i_theta = 6
    column = 5
    for finger in range(5):
        for joint in range(3):
            pose[0, column] = theta[i_theta]
            i_theta += 1
            if joint == 0:
                pose[1, column] = theta[i_theta]
                i_theta += 1
            column += 1
        column += 1
    return pose


def skinned_vertices(theta, model):
    base_relatives, parents, inverse_base_absolutes, base_positions, weights, is_mirrored = model
    bone_count = base_relatives.shape[0]
    pose = pose_angles(theta, bone_count)
    absolutes = []
    for i in range(bone_count):
        R = euler_to_rotation(pose[:, i + 3])
        relative = np.concatenate((base_relatives[i][:, :3] @ R, base_relatives[i][:, 3:]), axis=1)
        if parents[i] == -1:
            absolutes.append(relative)
        else:
            absolutes.append(absolutes[parents[i]] @ relative)
    positions = np.zeros((3, base_positions.shape[1]))
    for i in range(bone_count):
        transform = absolutes[i] @ inverse_base_absolutes[i]
        positions = positions + (transform[:3] @ base_positions) * weights[i]
    if is_mirrored:
        positions = positions * np.array([[-1.0], [1.0], [1.0]])
    R = angle_axis_to_rotation(pose[:, 0]) * pose[:, 1]
    return R @ positions + pose[:, 2:3]


def simple_residuals(theta, model, correspondences, points):
    vertices = skinned_vertices(theta, model)
    return (points - vertices[:, correspondences].T).ravel()


def complicated_residuals(theta, us, model, triangles, points):
    vertices = skinned_vertices(theta, model)
    a = vertices[:, triangles[:, 0]]
    b = vertices[:, triangles[:, 1]]
    c = vertices[:, triangles[:, 2]]
    hand_points = us[:, 0] * a + us[:, 1] * b + (1.0 - us[:, 0] - us[:, 1]) * c
    return (points - hand_points.T).ravel()


def shifted_residuals(theta, shift, us, model, triangles, points):
    """The residuals with every point's barycentric coordinates moved by the same `shift`: residual
    j reads only its own point's us[j], so d/d shift gives the two us columns compressed
    (Curtis-Powell-Reid)."""
    return complicated_residuals(theta, us + shift, model, triangles, points)


simple_jacobian = s2sad.jacfwd(simple_residuals)
complicated_jacobian = s2sad.jacfwd(shifted_residuals, argnums=(0, 1))


def _prepare(raw):
    data, model = raw["data"], raw["data"]["model"]
    arrays = (
        np.array(model["base_relatives"], dtype=float),
        np.array(model["parents"], dtype=int),
        np.array(model["inverse_base_absolutes"], dtype=float),
        np.array(model["base_positions"], dtype=float).T,  # 4 x vertices
        np.array(model["weights"], dtype=float).T,  # bones x vertices
        bool(model["is_mirrored"]),
    )
    correspondences = np.array(data["correspondences"], dtype=int)
    points = np.array(data["points"], dtype=float)
    theta = np.array(raw["theta"], dtype=float)
    us = np.array(raw.get("us") or [], dtype=float)
    if us.size:
        triangles = np.array(model["triangles"], dtype=int)[correspondences]
        return theta, us, arrays, triangles, points
    return theta, None, arrays, correspondences, points


def objective(args):
    theta, us, model, where, points = args
    if us is None:
        return simple_residuals(theta, model, where, points)
    return complicated_residuals(theta, us, model, where, points)


def jacobian(args):
    theta, us, model, where, points = args
    if us is None:
        return simple_jacobian(theta, model, where, points)
    J_theta, J_us = complicated_jacobian(theta, np.zeros(2), us, model, where, points)
    return np.column_stack([J_us, J_theta])


FUNCTIONS = {
    "objective": Function(_prepare, objective, lambda e: e.tolist()),
    "jacobian": Function(_prepare, jacobian, lambda J: J.tolist()),
}
