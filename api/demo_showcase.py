"""What the demo adds to a node's generated catalogue so a new visitor meets the views'
features at once: a technology registered in Chinese only (shown with its fallback marker
in every other language) and the alliance's next forum, dated from today (the calendar's
"coming up")."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from jembatan.graph.store import PUBLIC, RecordQuery, Store
from jembatan.network.envelope import make_envelope
from jembatan.network.hlc import Clock
from jembatan.network.ids import new_rid
from jembatan.network.keys import NodeKey
from jembatan.network.signing import sign_envelope

TECHNOLOGY = {
    "title": {"zh-Hans": "甘蔗渣高值化利用制备生物基包装材料技术"},
    "summary": {"zh-Hans": "以制糖副产物甘蔗渣为原料，经预处理、纤维解离和模压成型，制备可降解"
                           "餐盒与缓冲包装，适合广西及东盟甘蔗产区的糖厂就地转化。"},
    "fields": ["new_materials", "forestry_biomass"], "keywords": ["甘蔗渣", "生物基材料", "可降解包装"],
    "trl": 6, "transfer_modes": ["licence", "joint_development"], "stage": "evaluated",
}
EVENT_NAME = {"zh-Hans": "中国—东盟技术转移与创新合作大会", "zh-Hant": "中國—東盟技術轉移與創新合作大會",
              "en": "China–ASEAN Technology Transfer and Innovation Cooperation Conference",
              "th": "การประชุมความร่วมมือด้านการถ่ายทอดเทคโนโลยีและนวัตกรรมจีน–อาเซียน",
              "id": "Konferensi Kerja Sama Alih Teknologi dan Inovasi Tiongkok–ASEAN",
              "vi": "Hội nghị Hợp tác Chuyển giao Công nghệ và Đổi mới Sáng tạo Trung Quốc–ASEAN"}


def showcase(store: Store, key: NodeKey, node_id: str, clock: Clock | None = None) -> dict:
    """Write the two records, signed by the node; return their rids."""
    clock = clock or Clock()
    host = store.list(RecordQuery(kinds=("institution",), scope=PUBLIC, limit=1)).items[0].rid
    starts = datetime.now(timezone.utc).date() + timedelta(days=30)
    bodies = {
        "technology": dict(TECHNOLOGY, owner=host),
        "event": {"name": EVENT_NAME, "kind": "forum", "starts_on": starts.isoformat(),
                  "ends_on": (starts + timedelta(days=2)).isoformat(), "country": "CN",
                  "city": "Nanning", "organisers": [host]},
    }
    envelopes = {kind: sign_envelope(make_envelope(rid=new_rid(node_id, kind), body=body, version=1,
                                                   hlc=clock.tick(), visibility="public"),
                                     key, node_id)
                 for kind, body in bodies.items()}
    store.apply(list(envelopes.values()), all_or_nothing=True)
    return {"chinese_only": envelopes["technology"]["rid"], "next_event": envelopes["event"]["rid"]}
