package httpserver

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestProblemExtensions(t *testing.T) {
	tests := []struct {
		name string
		p    *Problem
		want string
	}{
		{"none", NewProblem(http.StatusConflict, "email_taken", "taken"),
			`{"type":"https://identity.example.com/problems/email_taken","title":"Conflict","status":409,"detail":"taken","code":"email_taken"}`},
		{"one, after the standard members", NewProblem(http.StatusBadRequest, "invalid_code", "wrong").With("attempts_remaining", 0),
			`{"type":"https://identity.example.com/problems/invalid_code","title":"Bad Request","status":400,"detail":"wrong","code":"invalid_code","attempts_remaining":0}`},
		{"several, sorted by name", NewProblem(http.StatusBadRequest, "x", "").With("b", "two").With("a", []int{1}),
			`{"type":"https://identity.example.com/problems/x","title":"Bad Request","status":400,"code":"x","a":[1],"b":"two"}`},
		{"a standard name set by hand never replaces the member", &Problem{Type: "t", Title: "T", Status: 400, Code: "c", Extensions: map[string]any{"status": 200}},
			`{"type":"t","title":"T","status":400,"code":"c"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.p)
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v\nwant %s", got, err, tt.want)
			}
		})
	}
	t.Run("With refuses a standard member", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("With(\"status\") did not panic")
			}
		}()
		_ = NewProblem(http.StatusBadRequest, "x", "").With("status", 200)
	})
}
