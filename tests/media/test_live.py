"""Live views against a simulated ONVIF camera and the real camera driver: one upstream shared by
the viewers, caps per camera and in all, a slow viewer holding only the newest picture, and the
camera no longer asked once nobody watches."""

from __future__ import annotations

import asyncio

import pytest

from gateway.media import LiveRefused, LiveView, LiveViews
from tests.onvif.support import Rig, rig, run, stanza, subscribed, wait_for


async def snapshots_asked(r: Rig) -> int:
    return int((await r.camera.state())["requests"]["snapshots"])


def test_viewers_share_one_upstream_within_caps_and_leaving_stops_it() -> None:
    async def scenario() -> None:
        async with rig(stanza()) as r:
            await subscribed(r.driver)
            views = LiveViews(LiveView(fps=10, per_camera=2, total=3),
                              lambda camera: r.driver if camera == "gate-cam" else None,
                              lambda: ["gate-cam"])
            with pytest.raises(LiveRefused, match="no camera 'io-0'") as unknown:
                views.watch("io-0")
            assert unknown.value.status == 404
            first, second = views.watch("gate-cam"), views.watch("gate-cam")
            with pytest.raises(LiveRefused, match="already has 2 live viewers") as busy:
                views.watch("gate-cam")
            assert busy.value.status == 503
            one, two = await first.next_frame(5), await second.next_frame(5)
            assert one is not None and one[:2] == b"\xff\xd8" and two is not None
            # the second viewer reads nothing for a while: it holds one picture, the newest
            await wait_for(lambda: second.dropped >= 5)
            newest = await second.next_frame(5)
            assert newest is not None and await second.next_frame(0.01) is None
            health = views.health("gate-cam")
            assert health["state"] == "up" and health["live"]["viewers"] == 2
            assert health["live"]["upstream"] and health["live"]["frames"] >= 6
            first.close()
            second.close()
            assert views.watching == 0 and not views.health("gate-cam")["live"]["upstream"]
            asked = await snapshots_asked(r)
            await asyncio.sleep(0.5)  # five pictures' time at 10 fps
            assert await snapshots_asked(r) == asked  # nobody watches: the camera is left be

    run(scenario())


def test_the_total_cap_holds_across_cameras_and_a_closed_view_ends_its_stream() -> None:
    async def scenario() -> None:
        async with rig(stanza("cam-a"), stanza("cam-b")) as r:
            drivers = {d.device_id: d for d in r.drivers}
            views = LiveViews(LiveView(fps=5, per_camera=4, total=3), drivers.get,
                              lambda: list(drivers))
            held = [views.watch("cam-a"), views.watch("cam-a"), views.watch("cam-b")]
            with pytest.raises(LiveRefused, match="3 live views are open on this gateway"):
                views.watch("cam-b")
            held[0].close()
            views.watch("cam-b")  # a place came free
            views.close()  # the console stops: every stream ends at once
            assert all(v.ended for v in held[1:])
            assert await held[1].next_frame(5) is None or held[1].ended

    run(scenario())
