"""``/events/frames``: the command-frame pane's server-sent-events stream (see web.frames)."""

from __future__ import annotations

from aiohttp import web

from web.keys import FRAMES
from web.routes import SIGNED_IN, RouteTable

routes = RouteTable()

KEEPALIVE_SECONDS = 15.0


@routes.page(
    "GET",
    "/events/frames",
    name="frames_stream",
    permission=SIGNED_IN,
    produces="text/event-stream",
)
async def frames_stream(request: web.Request) -> web.StreamResponse:
    feed = request.app[FRAMES]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    subscription = feed.subscribe()
    try:
        # The last few frames first, so a page opened mid-operation shows its beginning.
        recent = list(feed.recent)
        await response.write(b"retry: 3000\n\n")
        for event in recent:
            await response.write(f"event: frame\ndata: {event.to_json()}\n\n".encode())
        while True:
            batch = await subscription.next_batch(KEEPALIVE_SECONDS)
            if batch is None:
                break
            if not batch:
                await response.write(b": keep-alive\n\n")
                continue
            chunk = "".join(f"event: frame\ndata: {e.to_json()}\n\n" for e in batch)
            await response.write(chunk.encode())
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        subscription.close()
    return response
