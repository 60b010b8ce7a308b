package http

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/acme/identity/modules/identity/domain"
)

// Traced returns svc with every use case a span of tp ("identity.Register", ...): the
// request's span is its parent, its SQL queries and password hashes are its children. An
// error the table of mapError knows (a 4xx) is recorded as an event; any other marks the
// span as failed.
func Traced(svc Service, tp trace.TracerProvider) Service {
	return &tracedService{next: svc, tracer: tp.Tracer("github.com/acme/identity/modules/identity")}
}

type tracedService struct {
	next   Service
	tracer trace.Tracer
}

var _ Service = (*tracedService)(nil)

func (s *tracedService) start(ctx context.Context, useCase string) (context.Context, trace.Span) {
	return s.tracer.Start(ctx, "identity."+useCase)
}

func end(span trace.Span, acc domain.Account, err error) {
	defer span.End()
	if acc.ID != "" {
		span.SetAttributes(attribute.String("identity.account_id", acc.ID))
	}
	if err == nil {
		return
	}
	span.RecordError(err)
	if p := mapError(err); p == nil || p.Status >= 500 {
		span.SetStatus(codes.Error, "use case failed")
	}
}

func (s *tracedService) Register(ctx context.Context, email, password string) (domain.Account, error) {
	ctx, span := s.start(ctx, "Register")
	acc, err := s.next.Register(ctx, email, password)
	end(span, acc, err)
	return acc, err
}

func (s *tracedService) Authenticate(ctx context.Context, email, password string) (domain.Account, error) {
	ctx, span := s.start(ctx, "Authenticate")
	acc, err := s.next.Authenticate(ctx, email, password)
	end(span, acc, err)
	return acc, err
}

func (s *tracedService) Activate(ctx context.Context, who domain.Account, code string) (domain.Account, error) {
	ctx, span := s.start(ctx, "Activate")
	acc, err := s.next.Activate(ctx, who, code)
	end(span, acc, err)
	return acc, err
}

func (s *tracedService) Resend(ctx context.Context, who domain.Account) (domain.Account, error) {
	ctx, span := s.start(ctx, "Resend")
	acc, err := s.next.Resend(ctx, who)
	end(span, acc, err)
	return acc, err
}

func (s *tracedService) Policy() domain.CodePolicy { return s.next.Policy() }
