"""Xuhui district geography for demo data: real streets, each with the sub-district (街道) it lies in.

Only approximate locations: the public sees street and sub-district; building and room numbers in
the demo are invented and appear on the ledger only inside salted commitments.
"""

from __future__ import annotations

DISTRICT = "徐汇区"

# street -> 街道 (sub-district) it mostly lies in
STREETS: dict[str, str] = {
    "衡山路": "湖南路街道",
    "漕溪北路": "徐家汇街道",
    "肇嘉浜路": "斜土路街道",
    "龙腾大道": "龙华街道",
    "田林路": "田林街道",
    "虹漕路": "漕河泾街道",
    "天钥桥路": "枫林路街道",
    "宜山路": "虹梅路街道",
    "钦州路": "田林街道",
    "桂林路": "康健新村街道",
    "华山路": "天平路街道",
    "淮海中路": "湖南路街道",
    "建国西路": "天平路街道",
    "斜土路": "斜土路街道",
    "龙华中路": "龙华街道",
    "凯旋路": "凌云路街道",
    "中山西路": "虹梅路街道",
    "枫林路": "枫林路街道",
    "零陵路": "斜土路街道",
    "长桥路": "长桥街道",
    "华泾路": "华泾镇",
    "罗秀路": "长桥街道",
}

AGENCY_NAMES = (
    "汇居房产",
    "衡山置业",
    "徐家汇安家地产",
    "漕河泾租房",
    "梧桐里房屋",
    "龙华寓所",
    "田林易租",
    "枫林好房",
    "康健安居",
    "华泾家园",
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
