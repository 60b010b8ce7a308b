package main

import (
	"net/http"
	"testing"
)

func TestRegisterActivateSmoke(t *testing.T) {
	ts := startServer(t, serverConfig{})
	res := ts.request(t, http.MethodPost, "/v1/users", map[string]string{"email": "a@example.com", "password": "correct horse"}, "", "")
	if res.Status != http.StatusCreated {
		t.Fatalf("register: got %d %s", res.Status, res.Body)
	}
	code := codeIn(t, ts.Mail.waitFor(t, "a@example.com", 1))
	res = ts.request(t, http.MethodPost, "/v1/users/me/activation", map[string]string{"code": code}, "a@example.com", "correct horse")
	if res.Status != http.StatusOK || res.JSON(t)["status"] != "active" {
		t.Fatalf("activate: got %d %s", res.Status, res.Body)
	}
}
