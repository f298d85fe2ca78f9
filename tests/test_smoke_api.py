from models import Role


def test_award_moves_points_into_the_wallet(api, make_community, make_member):
    community = make_community()
    admin = make_member(community, Role.FUND_ADMIN)
    resident = make_member(community)
    response = api.as_(admin).post(
        f"/communities/{community.slug}/awards",
        json={"member_id": resident.id, "points": 120, "reason": "环境卫生整治"},
        key=True,
    )
    assert response.status_code == 201, response.json
    assert response.json["status"] == "posted"
    balance = api.as_(resident).get(f"/members/{resident.id}/balance")
    assert balance.json == {
        "member_id": resident.id,
        "points": 120,
        "value_fen": 240,
        "remainder_centipoints": 0,
        "points_per_yuan": 50,
    }
