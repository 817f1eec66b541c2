"""Folder trees (`db/trees.py`) as Design Studio and the asset library use them, on
both stores: a listing under a folder reaches every level below it, and no folder
moves into itself or a folder below it."""

from __future__ import annotations

import pytest

from tidings.assets import service as assets
from tidings.errors import ApiError
from tidings.templates import design_studio as studio

NOW = 1_800_000_000


def test_asset_folders_list_their_whole_subtree_and_refuse_moving_inside_it(db, workspace):
    ws = workspace.workspace_id
    top = db.write(assets.add_folder, ws, {"name": "Top"}, NOW)
    mid = db.write(assets.add_folder, ws, {"name": "Mid", "parent_folder_id": top}, NOW)
    low = db.write(assets.add_folder, ws, {"name": "Low", "parent_folder_id": mid}, NOW)
    db.write(assets.add_folder, ws, {"name": "Apart"}, NOW)
    listed = db.read(assets.list_folders, ws, assets.Listing(parent=top))
    assert [f["name"] for f in listed["folders"]] == ["Mid", "Low"]
    for target in (top, mid, low):
        with pytest.raises(ApiError) as caught:
            db.write(assets.change_folder, ws, top, {"parent_folder_id": target}, NOW)
        assert caught.value.status == 400 and "into itself" in caught.value.message
    db.write(assets.change_folder, ws, low, {"parent_folder_id": None}, NOW)
    listed = db.read(assets.list_folders, ws, assets.Listing(parent=top))
    assert [f["name"] for f in listed["folders"]] == ["Mid"]


def test_design_studio_folders_list_their_whole_subtree_and_refuse_moving_inside_it(db, workspace):
    ws = workspace.workspace_id
    top = db.write(studio.create, ws, "folder", {"name": "Top"}, NOW)["id"]
    mid = db.write(studio.create, ws, "folder", {"name": "Mid", "parent_folder_id": top}, NOW)
    low = db.write(studio.create, ws, "folder", {"name": "Low", "parent_folder_id": mid["id"]}, NOW)
    email = {"name": "Deep", "parent_folder_id": low["id"]}
    db.write(studio.create, ws, "email", email, NOW)
    db.write(studio.create, ws, "email", {"name": "Root"}, NOW)
    listed = db.read(studio.list_nodes, ws, "email", studio.Listing(parent=top))
    assert [e["name"] for e in listed["emails"]] == ["Deep"]
    for target in (top, mid["id"], low["id"]):
        with pytest.raises(ApiError) as caught:
            db.write(studio.change, ws, "folder", top, {"parent_folder_id": target}, NOW)
        assert caught.value.status == 400 and "into itself" in caught.value.message
    db.write(studio.change, ws, "folder", low["id"], {"parent_folder_id": None}, NOW)
    listed = db.read(studio.list_nodes, ws, "email", studio.Listing(parent=top))
    assert listed["emails"] == []
