def test_me_returns_the_key_company(company_client, company, cloud_channel):
    response = company_client.get("/api/v1/me")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["company"]["contract"] == str(company.contract)
    assert [c["phone_number_id"] for c in body["channels"]] == [cloud_channel.phone_number_id]
