// Command example calls the ledger through the generated Go stubs: it creates a wallet, grants
// credits, debits twice with the same request_id (the second call is an idempotent replay), reads
// the balance and prints stable key=value lines that the interop test checks. With -rating it also
// creates a meter in the rating service and reads it back.
//
// The services serve TLS: -ca-file (env BILLING_CA_FILE) is the CA that signed their
// certificates (a development deployment's is .data/tls/ca.pem; empty: the system's roots), and
// -api-key (env BILLING_API_KEY) is sent as "authorization: Bearer <key>" on every call.
// -plaintext is only for servers started with their development switch.
//
//	go run ./cmd/example -addr 127.0.0.1:50051 -rating 127.0.0.1:50052 -ca-file .data/tls/ca.pem
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	ledgerv1 "github.com/billing-backend/billing/clients/go/gen/billing/ledger/v1"
	ratingv1 "github.com/billing-backend/billing/clients/go/gen/billing/rating/v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "ledger address, host:port")
	ratingAddr := flag.String("rating", "", "rating service address, host:port (optional)")
	customer := flag.String("customer", "", "customer id (default: a random one, so reruns do not collide)")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of each call")
	flag.StringVar(&transport.caFile, "ca-file", os.Getenv("BILLING_CA_FILE"), "CA certificate (PEM) the servers' certificates are checked against; empty: the system's roots")
	flag.StringVar(&transport.apiKey, "api-key", os.Getenv("BILLING_API_KEY"), "API key sent as a bearer token on every call")
	flag.BoolVar(&transport.plaintext, "plaintext", os.Getenv("BILLING_PLAINTEXT") == "true", "connect without TLS (development servers only)")
	flag.Parse()
	if err := run(os.Stdout, *addr, *customer, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
	if *ratingAddr != "" {
		if err := runRating(os.Stdout, *ratingAddr, *timeout); err != nil {
			fmt.Fprintln(os.Stderr, "example:", err)
			os.Exit(1)
		}
	}
}

// How the example connects: TLS trusting caFile, the API key on every call.
var transport struct {
	caFile    string
	apiKey    string
	plaintext bool
}

// bearer sends the API key as "authorization: Bearer <key>", over TLS only.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (b bearer) RequireTransportSecurity() bool { return true }

// dial opens a client connection to addr with the transport flags.
func dial(addr string) (*grpc.ClientConn, error) {
	var opts []grpc.DialOption
	switch {
	case transport.plaintext:
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	case transport.caFile != "":
		creds, err := credentials.NewClientTLSFromFile(transport.caFile, "")
		if err != nil {
			return nil, fmt.Errorf("CA file %s: %w", transport.caFile, err)
		}
		opts = append(opts, grpc.WithTransportCredentials(creds))
	default:
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(nil, "")))
	}
	if transport.apiKey != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(transport.apiKey)))
	}
	return grpc.NewClient(addr, opts...)
}

// runRating creates a meter in the rating service and reads it back.
func runRating(out io.Writer, addr string, timeout time.Duration) error {
	conn, err := dial(addr)
	if err != nil {
		return fmt.Errorf("connect %s: %w", addr, err)
	}
	defer conn.Close()
	rating := ratingv1.NewRatingServiceClient(conn)
	key := "go-example-" + randomID()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	created, err := rating.CreateMeter(ctx, &ratingv1.CreateMeterRequest{
		RequestId:   "meter-" + key,
		Key:         key,
		EventType:   "example.call",
		Aggregation: ratingv1.Aggregation_AGGREGATION_COUNT,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("CreateMeter: %w", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), timeout)
	got, err := rating.GetMeter(ctx, &ratingv1.GetMeterRequest{MeterId: created.GetMeter().GetMeterId()})
	cancel()
	if err != nil {
		return fmt.Errorf("GetMeter: %w", err)
	}
	fmt.Fprintf(out, "meter_aggregation=%s\n", got.GetMeter().GetAggregation())
	fmt.Fprintf(out, "meter_read_back=%t\n", got.GetMeter().GetKey() == key)
	return nil
}

func run(out io.Writer, addr, customer string, timeout time.Duration) error {
	conn, err := dial(addr)
	if err != nil {
		return fmt.Errorf("connect %s: %w", addr, err)
	}
	defer conn.Close()
	ledger := ledgerv1.NewLedgerServiceClient(conn)

	// Request ids are chosen by the caller and make every mutation idempotent (AIP-155).
	run := randomID()
	if customer == "" {
		customer = "go-example-" + run
	}
	call := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), timeout)
	}

	ctx, cancel := call()
	created, err := ledger.CreateWallet(ctx, &ledgerv1.CreateWalletRequest{
		RequestId:     "wallet-" + run,
		CustomerId:    customer,
		Unit:          "CREDITS",
		OveragePolicy: ledgerv1.OveragePolicy_OVERAGE_POLICY_DENY,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("CreateWallet: %w", err)
	}
	walletID := created.GetWallet().GetWalletId()
	fmt.Fprintf(out, "unit=%s\n", created.GetWallet().GetUnit())

	ctx, cancel = call()
	granted, err := ledger.CreateGrant(ctx, &ledgerv1.CreateGrantRequest{
		RequestId: "grant-" + run,
		WalletId:  walletID,
		Kind:      ledgerv1.GrantKind_GRANT_KIND_PREPAID,
		Amount:    "100",
	})
	cancel()
	if err != nil {
		return fmt.Errorf("CreateGrant: %w", err)
	}
	fmt.Fprintf(out, "granted=%s\n", granted.GetGrant().GetAmount())

	debit := &ledgerv1.DebitRequest{
		RequestId: "debit-" + run,
		WalletId:  walletID,
		Amount:    "12.5",
		Feature:   "interop",
	}
	var entryIDs [2]string
	for i := range entryIDs {
		ctx, cancel = call()
		debited, err := ledger.Debit(ctx, debit)
		cancel()
		if err != nil {
			return fmt.Errorf("Debit: %w", err)
		}
		entryIDs[i] = debited.GetEntry().GetEntryId()
		if i == 0 {
			fmt.Fprintf(out, "debit_amount=%s\n", debited.GetEntry().GetAmount())
			fmt.Fprintf(out, "available_after=%s\n", debited.GetEntry().GetAvailableAfter())
		}
	}
	fmt.Fprintf(out, "replay_same_entry=%t\n", entryIDs[0] == entryIDs[1])

	ctx, cancel = call()
	balance, err := ledger.GetBalance(ctx, &ledgerv1.GetBalanceRequest{WalletId: walletID})
	cancel()
	if err != nil {
		return fmt.Errorf("GetBalance: %w", err)
	}
	b := balance.GetBalance()
	fmt.Fprintf(out, "available=%s\n", b.GetAvailable())
	fmt.Fprintf(out, "prepaid_available=%s\n", b.GetPrepaidAvailable())
	fmt.Fprintf(out, "overage=%s\n", b.GetOverage())
	fmt.Fprintf(out, "net=%s\n", b.GetNet())
	return nil
}

func randomID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux; if it does, nothing else will work either.
	}
	return hex.EncodeToString(b[:])
}
